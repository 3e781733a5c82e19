"""Why a signed-in person may not open a clinic page: decided once, in the permissions service."""

from __future__ import annotations

import uuid

import pytest

from mi_portal.models import Role
from mi_portal.services.actor import Actor
from mi_portal.services.permissions import Permission, page_access

CLINIC = uuid.uuid4()


@pytest.mark.parametrize(
    ("role", "tenant", "members", "expected"),
    [
        (Role.CLINIC_MANAGER, CLINIC, True, ""),
        (Role.VIEWER, CLINIC, True, ""),
        (Role.PROVIDER, None, True, "pick"),  # several clinics, none chosen yet
        (Role.PLATFORM_ADMIN, None, False, "switch"),  # may see cases inside a clinic
        (Role.PLATFORM_ADMIN, CLINIC, False, ""),
        (Role.PLATFORM_SUPPORT, None, False, "denied"),  # never sees cases, even switched in
        (Role.PLATFORM_SUPPORT, CLINIC, False, "denied"),
    ],
)
def test_the_queue_says_what_to_do(
    role: Role, tenant: uuid.UUID | None, members: bool, expected: str
) -> None:
    actor = Actor(user_id=uuid.uuid4(), role=role, tenant_id=tenant)
    assert page_access(actor, Permission.CASES_VIEW, has_memberships=members) == expected
