"""Choosing the clinic to work in, and platform staff switching into one (with a reason)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import select

from mi_portal.db import platform_session
from mi_portal.models import Tenant, User, UserSession
from mi_portal.services import audit, clock
from mi_portal.services.actor import NotFound, PermissionDenied
from mi_portal.services.auth import SWITCH_LIFETIME, SignedIn
from mi_portal.services.permissions import Permission, check
from mi_portal.services.platform_access import DAILY_SWITCH_CAP, describe, switched_in_today
from mi_portal.services.text import clean_text

MIN_REASON = 10
# Less than this left of the day's cap is not worth a switch.
MIN_SWITCH = timedelta(minutes=1)


class ClinicClosed(ValueError):
    """The clinic is suspended or closed: nobody switches into it."""


class SwitchCapReached(ValueError):
    """The person has used up today's switched-in time in this clinic."""


def _parse_id(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("clinic") from None


def choose_clinic(signed: SignedIn, tenant_id: object) -> str:
    """A clinic user picks one of their clinics; remembered for the next sign-in."""
    if signed.actor.is_platform:
        raise PermissionDenied("platform staff switch with a reason")
    wanted = _parse_id(tenant_id)
    match = [m for m in signed.memberships if m[0] == wanted]
    if not match:
        raise NotFound("clinic")  # not a member answers like a clinic that does not exist
    with platform_session() as session:
        row = session.get(UserSession, signed.session_id)
        user = session.get(User, signed.user_id)
        assert row is not None and user is not None
        row.active_tenant_id = wanted
        user.last_tenant_id = wanted
        session.add(row)
        session.add(user)
        session.commit()
    audit.record(
        None,
        "tenant.select",
        user_id=signed.user_id,
        tenant_id=wanted,
        details={"role": match[0][3]},
    )
    return match[0][2]


@dataclass(frozen=True)
class ClinicChoice:
    id: str
    slug: str
    name: str


def switchable_clinics(signed: SignedIn) -> list[ClinicChoice]:
    check(signed.actor, Permission.TENANT_SWITCH)
    with platform_session() as session:
        return [
            ClinicChoice(str(t.id), t.slug, t.name)
            for t in session.exec(select(Tenant).where(Tenant.active).order_by(Tenant.name))
        ]


def switch_into(signed: SignedIn, tenant_id: object, reason: str) -> str:
    """Platform staff enter one clinic for at most an hour, with a written reason (audited)."""
    check(signed.actor, Permission.TENANT_SWITCH)
    reason = clean_text(reason, max_length=500, trim=True)
    if len(reason) < MIN_REASON:
        raise ValueError(
            f"Write why you need to enter this clinic (at least {MIN_REASON} characters)."
        )
    wanted = _parse_id(tenant_id)
    now = clock.now()
    with platform_session() as session:
        tenant = session.get(Tenant, wanted)
        if tenant is None:
            raise NotFound("clinic")
        if not tenant.active:
            raise ClinicClosed(
                f"{tenant.name} is {tenant.status}: nobody can work in it, platform staff "
                "included, until it is reactivated."
            )
        name = tenant.name
    # A renewal is a new switch: without a daily cap, renewals would slide the hour forever.
    used = switched_in_today(tenant_id=wanted, now=now, user_id=signed.user_id).get(
        signed.user_id, timedelta()
    )
    left = DAILY_SWITCH_CAP - used
    if left < MIN_SWITCH:
        _refuse_over_cap(signed, wanted, reason, used)
    expires = now + min(SWITCH_LIFETIME, left)
    with platform_session() as session:
        row = session.get(UserSession, signed.session_id)
        assert row is not None
        previous = row.active_tenant_id
        row.active_tenant_id = wanted
        row.switch_reason = reason
        row.switch_expires_at = expires
        session.add(row)
        session.commit()
    if previous and previous != wanted:
        audit.record(
            signed.actor,
            "tenant.switch_out",
            tenant_id=previous,
            reason="switched to another clinic",
        )
    # Once in the clinic's own chain (the clinic sees who came in and why), once in the platform's.
    for platform in (False, True):
        audit.record(
            signed.actor,
            "tenant.switch_in",
            tenant_id=wanted,
            platform=platform,
            target_type="tenant",
            target_id=wanted,
            reason=reason,
            details={"expires_at": expires.isoformat()},
        )
    return name


def _refuse_over_cap(signed: SignedIn, wanted: uuid.UUID, reason: str, used: timedelta) -> None:
    for platform in (False, True):
        audit.record(
            signed.actor,
            "tenant.switch_in",
            tenant_id=wanted,
            platform=platform,
            outcome="denied",
            target_type="tenant",
            target_id=wanted,
            reason=reason,
            details={"cause": "daily_cap", "used_minutes": int(used.total_seconds() // 60)},
        )
    raise SwitchCapReached(
        f"You have been switched into this clinic for {describe(used)} today, the daily limit "
        f"for platform staff is {describe(DAILY_SWITCH_CAP)}. Ask the clinic's owner to act, "
        "or switch in again after midnight UTC."
    )


def switch_out(signed: SignedIn) -> None:
    """Leave the clinic a platform user switched into."""
    if not signed.actor.is_platform or signed.actor.tenant_id is None:
        return
    with platform_session() as session:
        row = session.get(UserSession, signed.session_id)
        assert row is not None
        tenant_id = row.active_tenant_id
        row.active_tenant_id = None
        row.switch_reason = None
        row.switch_expires_at = None
        session.add(row)
        session.commit()
    for platform in (False, True):
        audit.record(
            signed.actor,
            "tenant.switch_out",
            tenant_id=tenant_id,
            platform=platform,
            target_type="tenant",
            target_id=tenant_id,
        )
