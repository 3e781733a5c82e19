"""``GET /api/clinic/<slug>/logo``: a clinic's logo for its patient pages.

Public (patients are not signed in) and rate-limited per address. A logo is the clinic's public
branding, never personal data, so browsers may keep it for a while; its address changes with
every new upload (``?v=``), so a replaced logo is never shown from a cache.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from mi_portal.api.limits import client_address
from mi_portal.services import clinic_brand, ratelimit
from mi_portal.services.permissions import PUBLIC, declare

# A patient page asks once per visit; generous enough for a waiting room's shared address.
LOGO_PER_ADDRESS = ratelimit.Limit("clinic-logo-address", 300, timedelta(minutes=10))
CACHE = "public, max-age=3600"


@declare(PUBLIC)
async def clinic_logo(request: Request) -> Response:
    wait = await asyncio.to_thread(
        ratelimit.hit, LOGO_PER_ADDRESS, client_address(dict(request.scope))
    )
    if wait:
        return PlainTextResponse(
            "Too many requests.",
            status_code=429,
            headers={"Retry-After": str(wait), "Cache-Control": "no-store"},
        )
    data = await asyncio.to_thread(
        clinic_brand.public_logo, str(request.path_params.get("slug", ""))
    )
    if data is None:
        return PlainTextResponse(
            "Not found", status_code=404, headers={"Cache-Control": "no-store"}
        )
    return Response(
        data,
        media_type="image/png",
        headers={
            "Cache-Control": CACHE,
            "Content-Security-Policy": "default-src 'none'",
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )
