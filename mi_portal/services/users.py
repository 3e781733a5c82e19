"""Clinic users and memberships: invite, change role, disable; every change audited."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import CLINIC_ROLES, Membership, Role, User
from mi_portal.services import audit, clock
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.passwords import hash_password, password_problems
from mi_portal.services.permissions import Permission, check, elevates
from mi_portal.services.text import clean_email, clean_text

INVITE_LIFETIME = timedelta(days=3)


@dataclass(frozen=True)
class MemberRow:
    membership_id: str
    email: str
    full_name: str
    role: str
    active: bool
    mfa_enrolled: bool
    invited: bool


def _parse(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("membership") from None


def _clinic(actor: Actor) -> uuid.UUID:
    check(actor, Permission.USERS_MANAGE)
    return actor.require_tenant()


def list_members(actor: Actor) -> list[MemberRow]:
    tenant_id = _clinic(actor)
    with tenant_session(tenant_id) as session:
        rows = session.exec(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)  # type: ignore[arg-type]
            .where(Membership.tenant_id == tenant_id)
            .order_by(User.full_name)
        ).all()
    return [
        MemberRow(
            str(m.id),
            u.email,
            u.full_name,
            m.role,
            m.disabled_at is None and not u.disabled,
            u.totp_enabled_at is not None,
            u.password_hash is None,
        )
        for m, u in rows
    ]


def _grantable(actor: Actor, role: str) -> Role:
    try:
        wanted = Role(role)
    except ValueError:
        raise ValueError("Choose one of the clinic roles.") from None
    if wanted not in CLINIC_ROLES:
        raise ValueError("Choose one of the clinic roles.")
    if wanted == Role.CLINIC_OWNER and actor.role not in (Role.CLINIC_OWNER, Role.PLATFORM_ADMIN):
        raise PermissionDenied("only an owner can make an owner")
    return wanted


def _member(session, tenant_id: uuid.UUID, membership_id: object) -> Membership:  # type: ignore[no-untyped-def]
    membership = session.get(Membership, _parse(membership_id))
    if membership is None or membership.tenant_id != tenant_id:
        raise NotFound("membership")  # another clinic's member answers like a missing one
    return membership


def _owners_left(session, tenant_id: uuid.UUID, excluding: uuid.UUID) -> int:  # type: ignore[no-untyped-def]
    return len(
        session.exec(
            select(Membership.id).where(
                Membership.tenant_id == tenant_id,
                Membership.role == Role.CLINIC_OWNER.value,
                col(Membership.disabled_at).is_(None),
                Membership.id != excluding,
            )
        ).all()
    )


class SwitchedInGrantRefused(PermissionDenied):
    """Platform staff inside a clinic switch tried to add or raise a member."""


def _refuse_platform_grant(actor: Actor, what: str, target: object = None) -> None:
    # A switch lasts an hour; a membership it created would outlive it with nobody accountable.
    if not actor.is_platform:
        return
    audit.record(
        actor,
        what,
        outcome="denied",
        target_type="membership" if target is not None else None,
        target_id=target,
        details={"reason": "platform_switch"},
    )
    raise SwitchedInGrantRefused(
        "Platform staff cannot add members or raise roles inside a clinic. "
        "A clinic's first owner is provisioned from the platform; owners invite everyone else."
    )


def clean_person(email: str, full_name: str) -> tuple[str, str]:
    """A normalised (email, name) pair, or ``ValueError`` with what to fix."""
    email = clean_email(email)
    full_name = clean_text(full_name, max_length=200, trim=True)
    if not full_name:
        raise ValueError("Enter the person's name.")
    return email, full_name


def issue_invite(user: User) -> str:
    """Give ``user`` a fresh one-time set-password token (any earlier one dies); returns it."""
    token = secrets.token_urlsafe(32)
    user.invite_token_hash = hashlib.sha256(token.encode()).hexdigest()
    user.invite_expires_at = clock.now() + INVITE_LIFETIME
    return token


def grant_membership(
    session: ScopedSession, *, tenant_id: uuid.UUID, email: str, full_name: str, role: Role
) -> tuple[Membership, str | None]:
    """Add (or restore) ``email`` in the clinic; a new account gets a one-time password token."""
    token: str | None = None
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        user = User(email=email, full_name=full_name)
        token = issue_invite(user)
        session.add(user)
        session.flush()
    elif user.platform_role:
        raise ValueError("Platform staff cannot be clinic members.")
    membership = session.exec(
        select(Membership).where(Membership.user_id == user.id, Membership.tenant_id == tenant_id)
    ).first()
    if membership is None:
        membership = Membership(user_id=user.id, tenant_id=tenant_id, role=role.value)
    elif membership.disabled_at is None:
        raise ValueError("This person is already a member of the clinic.")
    else:
        membership.disabled_at = None
        membership.role = role.value
    session.add(membership)
    return membership, token


def invite(actor: Actor, *, email: str, full_name: str, role: str) -> str | None:
    """Add a user to the clinic; returns a one-time set-password token for a new account."""
    tenant_id = _clinic(actor)
    _refuse_platform_grant(actor, "user.invited")
    email, full_name = clean_person(email, full_name)
    wanted = _grantable(actor, role)
    with tenant_session(tenant_id) as session:
        membership, token = grant_membership(
            session, tenant_id=tenant_id, email=email, full_name=full_name, role=wanted
        )
        session.commit()
        target = membership.id
    audit.record(
        actor,
        "user.invited",
        target_type="membership",
        target_id=target,
        details={"email": email, "role": wanted.value, "new_account": token is not None},
    )
    return token


def change_role(actor: Actor, membership_id: object, role: str) -> None:
    tenant_id = _clinic(actor)
    wanted = _grantable(actor, role)
    with tenant_session(tenant_id) as session:
        membership = _member(session, tenant_id, membership_id)
        before = membership.role
        if before == wanted.value:
            return
        if elevates(before, wanted.value):
            _refuse_platform_grant(actor, "user.role_changed", membership.id)
        if before == Role.CLINIC_OWNER.value:
            if actor.role not in (Role.CLINIC_OWNER, Role.PLATFORM_ADMIN):
                raise PermissionDenied("only an owner can change an owner")
            if _owners_left(session, tenant_id, membership.id) == 0:
                raise ValueError("A clinic needs at least one owner.")
        membership.role = wanted.value
        target = membership.id
        session.add(membership)
        session.commit()
    audit.record(
        actor,
        "user.role_changed",
        target_type="membership",
        target_id=target,
        details={"from": before, "to": wanted.value},
    )


def set_member_active(actor: Actor, membership_id: object, active: bool) -> None:
    """Disable (or restore) a member's access to this clinic; cut off at their next event."""
    tenant_id = _clinic(actor)
    with tenant_session(tenant_id) as session:
        membership = _member(session, tenant_id, membership_id)
        if active and membership.disabled_at is not None:
            _refuse_platform_grant(actor, "user.enabled", membership.id)
        if not active and membership.user_id == actor.user_id:
            raise ValueError("You cannot disable your own access.")
        if (
            not active
            and membership.role == Role.CLINIC_OWNER.value
            and _owners_left(session, tenant_id, membership.id) == 0
        ):
            raise ValueError("A clinic needs at least one owner.")
        membership.disabled_at = None if active else clock.now()
        target = membership.id
        session.add(membership)
        session.commit()
    audit.record(
        actor,
        "user.enabled" if active else "user.disabled",
        target_type="membership",
        target_id=target,
    )


def accept_invite(token: str, password: str) -> list[str]:
    """Set the first password of an invited account; returns problems (empty on success)."""
    digest = hashlib.sha256((token or "").encode()).hexdigest()
    with platform_session() as session:
        user = session.exec(select(User).where(User.invite_token_hash == digest)).first()
        if user is None or user.invite_expires_at is None or user.invite_expires_at < clock.now():
            return [
                "This invitation link is invalid or has expired. Ask whoever invited you for a new one."
            ]
        problems = password_problems(
            password,
            context=(user.email.split("@")[0], *user.full_name.split(), "miportal", "mi-portal"),
        )
        if problems:
            return problems
        user.password_hash = hash_password(password)
        user.invite_token_hash = None
        user.invite_expires_at = None
        session.add(user)
        session.commit()
        user_id = user.id
    audit.record(None, "user.invite_accepted", user_id=user_id, platform=True)
    return []
