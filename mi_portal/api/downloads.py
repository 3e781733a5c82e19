"""Watermarked photo downloads over plain HTTP, through short-lived links bound to one session.

The viewer asks for a link (after its own permission check); the browser then fetches it with
the session cookie. The link names the clinic, the photo and the variant, expires, and is bound
to the user's sign-in session (``signed_links``); the route checks all of that against the
session again, then renders the watermarked file and audits the download (in the service).
"""

from __future__ import annotations

import asyncio
import uuid

from starlette.requests import Request
from starlette.responses import Response

from mi_portal.api.limits import client_address
from mi_portal.services import signed_links, viewer
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.auth import resolve_async
from mi_portal.services.permissions import Permission, check, declare
from mi_portal.state.guard import SESSION_COOKIE
from mi_portal.storage import ObjectMissing, StorageUnavailable

LINK_LIFETIME_SECONDS = 60
PURPOSE = "download"
_NOT_FOUND = Response("Not found", status_code=404, media_type="text/plain")


def download_link(actor: Actor, image_id: str, variant: str) -> str:
    """A link for ``actor`` in this sign-in session alone, valid for a minute."""
    check(actor, Permission.IMAGES_DOWNLOAD)
    image = str(uuid.UUID(str(image_id)))
    token = signed_links.sign(
        PURPOSE,
        subject=signed_links.actor_subject(actor),
        lifetime=LINK_LIFETIME_SECONDS,
        claims={"i": image, "v": variant, "t": str(actor.require_tenant())},
    )
    return f"/api/downloads/{image}?t={token}"


@declare(Permission.IMAGES_DOWNLOAD)
async def download_photo(request: Request) -> Response:
    image = str(request.path_params.get("image_id", ""))
    ip, agent = client_address(request.scope), request.headers.get("user-agent")
    signed = await resolve_async(request.cookies.get(SESSION_COOKIE), ip=ip, user_agent=agent)
    if signed is None or not signed.mfa_passed:
        return _NOT_FOUND
    actor = signed.actor
    claims = signed_links.verify(
        PURPOSE,
        request.query_params.get("t", ""),
        subject=signed_links.actor_subject(actor),
    )
    # Another session's link, another clinic's, an altered or an expired one.
    if claims is None or claims.get("i") != image or claims.get("t") != str(actor.tenant_id):
        return _NOT_FOUND
    variant = claims.get("v", "")
    if variant not in viewer.DOWNLOAD_VARIANTS:
        return _NOT_FOUND
    try:
        got = await asyncio.to_thread(viewer.download, actor, image, variant)
    except (NotFound, PermissionDenied, ValueError, ObjectMissing, StorageUnavailable, OSError):
        return _NOT_FOUND
    return Response(
        got.data,
        media_type=got.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{got.filename}"',
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
