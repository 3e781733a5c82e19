"""Who is acting: rebuilt on the server for every request, never taken from the browser."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mi_portal.models import PLATFORM_ROLES, Role


class NotFound(LookupError):
    """The record does not exist or belongs to another clinic (the two are never told apart)."""


def parse_id(value: object, what: str) -> uuid.UUID:
    """An id from the browser; anything that is not one answers like a missing record."""
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound(what) from None


class PermissionDenied(PermissionError):
    """The actor may not do this."""


@dataclass(frozen=True)
class Actor:
    """A user acting in at most one clinic at a time."""

    user_id: uuid.UUID | None
    role: Role
    tenant_id: uuid.UUID | None = None
    home_tenant_id: uuid.UUID | None = None
    ip: str | None = None
    user_agent: str | None = None
    # The sign-in session this actor acts in; photo and download links are bound to it.
    session_id: uuid.UUID | None = None

    @property
    def is_platform(self) -> bool:
        return self.role in PLATFORM_ROLES

    def require_tenant(self) -> uuid.UUID:
        if self.tenant_id is None:
            raise PermissionDenied("no clinic selected")
        return self.tenant_id


def system_actor(tenant_id: uuid.UUID | None = None) -> Actor:
    """The actor for command-line jobs (seed, sweeps) run by the operator."""
    return Actor(user_id=None, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id)
