"""Photo bytes from either store, only through signed, expiring, session-bound URLs.

Local folder and S3 alike: the link is checked against the session cookie, the clinic and the
rendition kind the role may see, every fetch is audited, and the bytes are streamed so a large
original is never held whole in memory. No S3 URL ever reaches the browser.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mi_portal.api.limits import client_address
from mi_portal.services import audit, object_links
from mi_portal.services.auth import resolve_async
from mi_portal.services.permissions import Permission, declare
from mi_portal.state.guard import SESSION_COOKIE
from mi_portal.storage import ObjectMissing, StorageUnavailable, get_store

# Missing, expired, foreign and forbidden all look the same from outside.
_NOT_FOUND = Response("Not found", status_code=404, media_type="text/plain")
_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'",
    "Content-Disposition": "inline",
}


@declare(Permission.IMAGES_VIEW)
async def signed_object(request: Request) -> Response:
    key = request.path_params.get("key", "")
    token = request.query_params.get("t", "")
    ip, agent = client_address(request.scope), request.headers.get("user-agent")
    signed = await resolve_async(request.cookies.get(SESSION_COOKIE), ip=ip, user_agent=agent)
    if signed is None or not signed.mfa_passed:
        return _NOT_FOUND
    kind = object_links.check(signed.actor, key=key, token=token)
    if kind is None:
        return _NOT_FOUND
    try:
        # Opening the object before answering lets a missing one still answer 404.
        chunks = await asyncio.to_thread(get_store().stream, key)
    except (ObjectMissing, StorageUnavailable, ValueError):
        return _NOT_FOUND
    # Every fetch of photo bytes is an audited read of health data, not only the link's issue.
    await asyncio.to_thread(
        audit.record,
        signed.actor,
        "image.fetch",
        target_type="object",
        target_id=key.split("/", 1)[-1][:64],
        details={"kind": kind},
        ip=ip,
        user_agent=agent,
    )
    return StreamingResponse(chunks, media_type="image/jpeg", headers=_HEADERS)
