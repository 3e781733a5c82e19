"""Platform-level onboarding of a clinic: its first owner, who then invites everyone else.

Platform staff never add members from inside a clinic switch (services/users.py refuses it):
a membership made there would outlive the switch. The first owner is the one membership the
platform creates, from outside any clinic, and it is recorded in both audit chains.
"""

from __future__ import annotations

import uuid

from sqlmodel import col, select

from mi_portal.db import serialize_on, tenant_session
from mi_portal.models import Membership, Role, Tenant, User
from mi_portal.services import audit
from mi_portal.services.actor import Actor, NotFound, PermissionDenied, parse_id
from mi_portal.services.permissions import Permission, check
from mi_portal.services.users import clean_person, grant_membership

ACTION = "user.owner_provisioned"


class OwnerExists(ValueError):
    """The clinic already has an active owner: they invite further people."""


def _has_active_owner(session, tenant_id: uuid.UUID) -> bool:  # type: ignore[no-untyped-def]
    return (
        session.exec(
            select(Membership.id)
            .join(User, col(User.id) == Membership.user_id)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.role == Role.CLINIC_OWNER.value,
                col(Membership.disabled_at).is_(None),
                col(User.disabled).is_(False),
            )
        ).first()
        is not None
    )


def provision_first_owner(
    *, actor: Actor, tenant_id: object, email: str, full_name: str
) -> str | None:
    """Make ``email`` the owner of a clinic that has none; returns a set-password token if new."""
    check(actor, Permission.CLINICS_PROVISION)
    if actor.tenant_id is not None:
        raise PermissionDenied("leave the clinic first: provisioning is a platform action")
    clinic = parse_id(tenant_id, "clinic")
    email, full_name = clean_person(email, full_name)
    with tenant_session(clinic) as session:
        # Two operators provisioning at once must not both find the clinic without an owner.
        serialize_on(session, f"first-owner:{clinic}")
        tenant = session.get(Tenant, clinic)
        if tenant is None or not tenant.active:
            raise NotFound("clinic")
        if _has_active_owner(session, clinic):
            session.rollback()
            audit.record(
                actor,
                ACTION,
                platform=True,
                outcome="denied",
                target_type="tenant",
                target_id=clinic,
                details={"reason": "owner_exists"},
            )
            raise OwnerExists("This clinic already has an owner; they invite further people.")
        membership, token = grant_membership(
            session, tenant_id=clinic, email=email, full_name=full_name, role=Role.CLINIC_OWNER
        )
        session.commit()
        target = membership.id
    details = {"email": email, "tenant": str(clinic), "new_account": token is not None}
    # The platform's chain says who provisioned; the clinic's own chain shows its owner's origin.
    for platform in (True, False):
        audit.record(
            actor,
            ACTION,
            tenant_id=clinic,
            platform=platform,
            target_type="membership",
            target_id=target,
            details=details,
        )
    return token
