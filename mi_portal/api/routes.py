"""Starlette routes mounted on the Reflex backend. Each declares the permission it needs."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from mi_portal.config import get_settings
from mi_portal.services import auth
from mi_portal.services.health import database_ok
from mi_portal.services.permissions import PUBLIC, declare
from mi_portal.state.guard import SESSION_COOKIE

_SAFE_NEXT = ("/", "/mfa/enroll", "/clinics/pick")


@declare(PUBLIC)
async def health(_request: Request) -> JSONResponse:
    """Liveness and database reachability."""
    ok = await asyncio.to_thread(database_ok)
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "database": ok}, status_code=200 if ok else 503
    )


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


@declare(PUBLIC)
async def session_from_ticket(request: Request) -> Response:
    """Exchange the sign-in page's one-time ticket for the HttpOnly session cookie."""
    ticket = request.query_params.get("ticket", "")[:200]
    wanted = request.query_params.get("next", "/")
    next_path = wanted if wanted in _SAFE_NEXT else "/"  # no open redirect
    token = await asyncio.to_thread(auth.redeem_ticket, ticket) if ticket else None
    if token is None:
        return RedirectResponse("/signin", status_code=303)
    return set_session_cookie(request, RedirectResponse(next_path, status_code=303), token)


def set_session_cookie(request: Request, response: Response, token: str) -> Response:
    """The only place the session cookie is written: HttpOnly, SameSite=Lax, Secure on https."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(auth.ABSOLUTE_LIFETIME.total_seconds()),
        httponly=True,
        secure=_secure(request),
        samesite="lax",
        path="/",
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@declare(PUBLIC)
async def sign_out(request: Request) -> Response:
    """Revoke the session (if any) and clear the cookie."""
    await asyncio.to_thread(auth.sign_out, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(request)
    )
    return response


def _routes() -> list[Route]:
    from mi_portal.api.downloads import download_photo
    from mi_portal.api.objects import signed_object
    from mi_portal.api.oidc import oidc_callback, oidc_login

    return [
        Route("/api/health", health, methods=["GET"]),
        Route("/api/auth/session", session_from_ticket, methods=["GET"]),
        Route("/api/auth/signout", sign_out, methods=["GET", "POST"]),
        Route("/api/auth/oidc/{name}/login", oidc_login, methods=["GET"]),
        Route("/api/auth/oidc/{name}/callback", oidc_callback, methods=["GET"]),
        Route("/api/objects/{key:path}", signed_object, methods=["GET"]),
        Route("/api/downloads/{image_id}", download_photo, methods=["GET"]),
    ]


def build_api_app() -> Starlette:
    settings = get_settings()
    return Starlette(
        routes=_routes(),
        middleware=[
            # Holds Authlib's state, nonce and PKCE verifier during the single-sign-on round trip.
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie="mi_oidc",
                max_age=600,
                same_site="lax",
                https_only=settings.frontend_origin.startswith("https://"),
            )
        ],
    )


api_app = build_api_app()
