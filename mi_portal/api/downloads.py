"""Watermarked photo downloads over plain HTTP, through short-lived links bound to one user.

The viewer asks for a link (after its own permission check); the browser then fetches it with
the session cookie. The link names the user, the clinic they work in, the photo, the variant and
an expiry, signed with the app's secret; the route checks all of that against the session again,
then renders the watermarked file and audits the download (in the service).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from mi_portal.config import get_settings
from mi_portal.services import viewer
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.auth import resolve
from mi_portal.services.permissions import Permission, check, declare
from mi_portal.state.guard import SESSION_COOKIE
from mi_portal.storage import ObjectMissing, StorageUnavailable

LINK_LIFETIME_SECONDS = 60
_NOT_FOUND = Response("Not found", status_code=404, media_type="text/plain")


def _signature(user: str, tenant: str, image: str, variant: str, expires: int) -> str:
    key = ("downloads:" + get_settings().secret_key).encode()
    message = f"{user}\n{tenant}\n{image}\n{variant}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def download_link(actor: Actor, image_id: str, variant: str) -> str:
    """A link for ``actor`` alone, valid for a minute; the route re-checks everything."""
    check(actor, Permission.IMAGES_DOWNLOAD)
    image = str(uuid.UUID(str(image_id)))
    expires = int(time.time()) + LINK_LIFETIME_SECONDS
    sig = _signature(str(actor.user_id), str(actor.tenant_id), image, variant, expires)
    query = urlencode({"variant": variant, "exp": expires, "sig": sig})
    return f"/api/downloads/{image}?{query}"


@declare(Permission.IMAGES_DOWNLOAD)
async def download_photo(request: Request) -> Response:
    image = str(request.path_params.get("image_id", ""))
    q = request.query_params
    variant, sig = q.get("variant", ""), q.get("sig", "")
    try:
        expires = int(q.get("exp", ""))
    except ValueError:
        return _NOT_FOUND
    if expires < time.time() or variant not in viewer.DOWNLOAD_VARIANTS:
        return _NOT_FOUND
    signed = await asyncio.to_thread(resolve, request.cookies.get(SESSION_COOKIE))
    if signed is None or not signed.mfa_passed:
        return _NOT_FOUND
    actor = signed.actor
    expected = _signature(str(actor.user_id), str(actor.tenant_id), image, variant, expires)
    if not hmac.compare_digest(expected, sig):
        return _NOT_FOUND  # another user's link, another clinic, or altered
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
