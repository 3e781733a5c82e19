"""Links to stored photo renditions: issued after a permission check, checked again on fetch.

Whatever the store (local folder or S3), the browser gets only ``/api/objects/<key>?t=…``; the
token names the object, its rendition kind and the clinic, and is bound to the sign-in session
it was issued to (see ``signed_links``). Which kinds a role may fetch is decided here, once, for
issuing and fetching alike.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from mi_portal.services import signed_links
from mi_portal.services.actor import Actor, PermissionDenied
from mi_portal.services.permissions import Permission, has_permission

PURPOSE = "object"
KINDS = ("original", "preview", "thumbnail", "blurred")
# Viewers see previews and thumbnails; the full-resolution original needs its own permission.
_NEEDS = {"original": Permission.IMAGES_VIEW_ORIGINAL}


def may_fetch(actor: Actor, kind: str) -> bool:
    """Whether the actor may be given (and may fetch) this rendition kind."""
    return kind in KINDS and has_permission(actor, _NEEDS.get(kind, Permission.IMAGES_VIEW))


def object_url(actor: Actor, *, key: str, kind: str, lifetime: int) -> str:
    """A URL of one rendition for the actor's current session alone."""
    if not may_fetch(actor, kind):
        raise PermissionDenied(f"images.{kind}")
    token = signed_links.sign(
        PURPOSE,
        subject=signed_links.actor_subject(actor),
        lifetime=lifetime,
        claims={"k": key, "v": kind, "t": str(actor.require_tenant())},
    )
    return f"/api/objects/{quote(key)}?t={token}"


def check(actor: Actor, *, key: str, token: str) -> str | None:
    """The rendition kind a fetch of ``key`` with ``token`` may have, or ``None`` (refused).

    Refused unless the token was issued for this key, in this session, in the clinic the actor
    works in now, for a kind the actor may still see.
    """
    claims = signed_links.verify(PURPOSE, token, subject=signed_links.actor_subject(actor))
    if claims is None or claims.get("k") != key or actor.tenant_id is None:
        return None
    if claims.get("t") != str(actor.tenant_id) or _tenant_of(key) != actor.tenant_id:
        return None
    kind = claims.get("v", "")
    return kind if may_fetch(actor, kind) else None


def _tenant_of(key: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(key.split("/", 1)[0])
    except ValueError:
        return None
