"""Photo bytes from either store, only through signed, expiring, session-bound URLs.

Local folder and S3 alike: the link is checked against the session cookie, the clinic and the
rendition kind the role may see, every fetch is audited, and a large original is streamed, never held whole in memory (an
object of one chunk, a thumbnail or a preview, is answered whole). No S3 URL ever reaches the browser.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mi_portal.api.limits import client_address
from mi_portal.services import audit, object_links
from mi_portal.services.actor import Actor
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
    # One trip to a worker thread for the stored bytes and the audit event: under load each
    # trip waits its turn behind the page reads queued there.
    opened = await asyncio.to_thread(_open_and_record, signed.actor, key, kind, ip, agent)
    if opened is None:
        return _NOT_FOUND
    first, rest = opened
    if rest is None:  # the whole object (a thumbnail, a preview): answered as it is
        return Response(first, media_type="image/jpeg", headers=_HEADERS)
    return StreamingResponse(
        itertools.chain((first,), rest), media_type="image/jpeg", headers=_HEADERS
    )


def _open_and_record(
    actor: Actor, key: str, kind: str, ip: str | None, agent: str | None
) -> tuple[bytes, Iterator[bytes] | None] | None:
    """The object's first chunk and the rest of it (``None`` when the first was all of it),
    once its fetch is in the audit chain; ``None`` when the store has no such object or
    cannot be read now. Opening and reading before answering lets a missing or unreadable
    object still answer 404; a large original is not read whole (the rest is streamed)."""
    try:
        chunks = get_store().stream(key)
    except (ObjectMissing, StorageUnavailable, ValueError):
        return None
    try:
        first = next(chunks, b"")
        second = next(chunks, None)
    except (ObjectMissing, StorageUnavailable):
        _close(chunks)
        return None
    try:
        # Every fetch of photo bytes is an audited read of health data, not only the link's
        # issue: nothing is sent unless it is recorded.
        audit.record(
            actor,
            "image.fetch",
            target_type="object",
            target_id=key.split("/", 1)[-1][:64],
            details={"kind": kind},
            ip=ip,
            user_agent=agent,
        )
    except BaseException:
        _close(chunks)
        raise
    if second is None:
        return first, None
    return first, itertools.chain((second,), chunks)


def _close(chunks: Iterator[bytes]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
