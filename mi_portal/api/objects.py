"""Photo bytes from the local store, only through signed, expiring, viewer-bound URLs."""

from __future__ import annotations

import asyncio
import uuid

from starlette.requests import Request
from starlette.responses import Response

from mi_portal.services import audit
from mi_portal.services.auth import resolve
from mi_portal.services.permissions import Permission, declare, has_permission
from mi_portal.state.guard import SESSION_COOKIE
from mi_portal.storage import LocalStore, ObjectMissing, get_store

# Missing, expired, foreign and forbidden all look the same from outside.
_NOT_FOUND = Response("Not found", status_code=404, media_type="text/plain")


def _tenant_of(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key.split("/", 1)[0])
    except ValueError:
        return None


@declare(Permission.IMAGES_VIEW)
async def signed_object(request: Request) -> Response:
    store = get_store()
    key = request.path_params.get("key", "")
    q = request.query_params
    if not isinstance(store, LocalStore):
        return _NOT_FOUND
    try:
        valid = store.check_signature(
            key,
            expires=q.get("exp", ""),
            viewer=q.get("v", ""),
            disposition=q.get("d", ""),
            sig=q.get("sig", ""),
        )
    except ValueError:
        return _NOT_FOUND
    if not valid:
        return _NOT_FOUND
    signed = await asyncio.to_thread(resolve, request.cookies.get(SESSION_COOKIE))
    # Bound to the viewer it was issued to, in the clinic they are working in right now.
    if (
        signed is None
        or not signed.mfa_passed
        or str(signed.user_id) != q.get("v")
        or signed.actor.tenant_id != _tenant_of(key)
        or not has_permission(signed.actor, Permission.IMAGES_VIEW)
    ):
        return _NOT_FOUND
    try:
        data = await asyncio.to_thread(store.get, key)
    except (ObjectMissing, ValueError):
        return _NOT_FOUND
    # Every fetch of photo bytes is an audited read of health data, not only the link's issue.
    await asyncio.to_thread(
        audit.record,
        signed.actor,
        "image.fetch",
        target_type="object",
        target_id=key.split("/", 1)[-1][:64],
    )
    disposition = q.get("d", "inline")
    headers = {
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
        "Content-Disposition": "inline"
        if disposition == "inline"
        else f'attachment; filename="{disposition.split(":", 1)[-1]}"',
    }
    return Response(data, media_type="image/jpeg", headers=headers)
