"""Starlette routes mounted on the Reflex backend."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mi_portal.services.health import database_ok


async def health(_request: Request) -> JSONResponse:
    """Liveness and database reachability, for load balancers and `make run` checks."""
    ok = await asyncio.to_thread(database_ok)
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "database": ok}, status_code=200 if ok else 503
    )


api_app = Starlette(routes=[Route("/api/health", health, methods=["GET"])])
