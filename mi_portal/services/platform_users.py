"""Platform accounts: invite platform staff, change their role, disable any account everywhere,
and reset a lost second factor. Platform admins only, from outside every clinic.

Platform and clinic accounts stay separate: an address that already has an account is never
turned into platform staff (services/users.py refuses the reverse). Whatever the account is told
goes through the platform's outbox; every change is audited in the platform chain and, for a
clinic user, in the chain of each clinic they belong to, so each clinic sees what the platform
did to one of its people.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, or_, select

from mi_portal.config import get_settings
from mi_portal.db import ScopedSession, platform_session, serialize_on
from mi_portal.models import (
    PLATFORM_ROLES,
    Membership,
    MessageChannel,
    OutboxKind,
    RecoveryCode,
    Role,
    Tenant,
    User,
    UserSession,
)
from mi_portal.services import audit, clock, outbox
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.auth import revoke_sessions
from mi_portal.services.labels import role_label
from mi_portal.services.permissions import Permission, check
from mi_portal.services.text import TextTooLong, clean_text
from mi_portal.services.users import INVITE_LIFETIME, clean_person, issue_invite

MAX_REASON = 500
SEARCH_LIMIT = 25
MIN_QUERY = 2
_ADMINS_LOCK = "platform-admins"


class AccountProblem(ValueError):
    """What to fix, and in which field ("" when it is not about one field)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ClinicRole:
    name: str
    role: str  # words, not the stored code
    active: bool


@dataclass(frozen=True)
class Account:
    """One account as the page shows it: metadata only, never anything from a clinic's cases."""

    user_id: str
    email: str
    full_name: str
    platform_role: str  # "" for a clinic user
    status: str  # invited / active / disabled
    mfa_enrolled: bool
    last_seen: datetime | None
    clinics: tuple[ClinicRole, ...]
    is_self: bool


def _status(user: User) -> str:
    if user.disabled:
        return "disabled"
    return "invited" if user.password_hash is None else "active"


def _memberships(user_id: uuid.UUID) -> list[tuple[uuid.UUID, str, str, bool]]:
    """(clinic id, clinic name, role, active) of every membership of ``user_id``.

    Read as sign-in reads them: a platform session bound to that one user sees that user's
    memberships and nothing else of any clinic.
    """
    with platform_session(user_id=user_id) as session:
        rows = session.exec(
            select(Membership, Tenant)
            .join(Tenant, col(Tenant.id) == Membership.tenant_id)
            .where(Membership.user_id == user_id)
            .order_by(Tenant.name)
        ).all()
    return [(t.id, t.name, m.role, m.disabled_at is None and t.active) for m, t in rows]


def _accounts(actor: Actor, session: ScopedSession, users: list[User]) -> list[Account]:
    ids = [u.id for u in users]
    seen: dict[uuid.UUID, datetime] = {}
    if ids:
        seen = {
            uid: last
            for uid, last in session.exec(
                select(UserSession.user_id, func.max(UserSession.last_seen_at))
                .where(col(UserSession.user_id).in_(ids))
                .group_by(col(UserSession.user_id))
            ).all()
        }
    found = []
    for user in users:
        clinics = () if user.platform_role else tuple(
            ClinicRole(name, role_label(role), active)
            for _tid, name, role, active in _memberships(user.id)
        )  # fmt: skip
        found.append(
            Account(
                user_id=str(user.id),
                email=user.email,
                full_name=user.full_name,
                platform_role=user.platform_role or "",
                status=_status(user),
                mfa_enrolled=user.totp_enabled_at is not None,
                last_seen=seen.get(user.id),
                clinics=clinics,
                is_self=user.id == actor.user_id,
            )
        )
    return found


def list_staff(actor: Actor) -> list[Account]:
    """Every platform account, admins first, then by name."""
    check(actor, Permission.PLATFORM_USERS)
    with platform_session() as session:
        users = list(
            session.exec(
                select(User)
                .where(col(User.platform_role).is_not(None))
                .order_by(col(User.platform_role), col(User.full_name), col(User.email))
            )
        )
        return _accounts(actor, session, users)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(actor: Actor, query: object) -> list[Account]:
    """Accounts of anyone (platform or clinic) whose email or name contains ``query``."""
    check(actor, Permission.PLATFORM_USERS)
    text = clean_text(query, max_length=254, trim=True)
    if len(text) < MIN_QUERY:
        return []
    pattern = _like(text.lower())
    with platform_session() as session:
        users = list(
            session.exec(
                select(User)
                .where(
                    or_(
                        col(User.email).like(pattern, escape="\\"),
                        func.lower(col(User.full_name)).like(pattern, escape="\\"),
                    )
                )
                .order_by(col(User.email))
                .limit(SEARCH_LIMIT)
            )
        )
        return _accounts(actor, session, users)


def _clean_reason(value: object) -> str:
    try:
        text = clean_text(value, max_length=MAX_REASON, multiline=True)
    except TextTooLong:
        raise AccountProblem(f"Keep the reason under {MAX_REASON} characters.", "reason") from None
    if not text:
        raise AccountProblem("Give a reason: it is kept in the audit log.", "reason")
    return text


def _platform_role(value: object) -> Role:
    try:
        role = Role(str(value))
    except ValueError:
        raise AccountProblem("Choose a platform role.", "role") from None
    if role not in PLATFORM_ROLES:
        raise AccountProblem("Choose a platform role.", "role")
    return role


def _user(session: ScopedSession, user_id: object) -> User:
    user = session.get(User, parse_id(user_id, "user"))
    if user is None:
        raise NotFound("user")
    return user


def _not_self(actor: Actor, user: User, what: str) -> None:
    if user.id == actor.user_id:
        raise AccountProblem(f"You cannot {what} your own account: ask another platform admin.")


def _other_active_admins(session: ScopedSession, excluding: uuid.UUID) -> int:
    return len(
        session.exec(
            select(User.id).where(
                User.platform_role == Role.PLATFORM_ADMIN.value,
                col(User.disabled).is_(False),
                # An invitation nobody has accepted yet signs no one in.
                col(User.password_hash).is_not(None),
                User.id != excluding,
            )
        ).all()
    )


def _keep_an_admin(session: ScopedSession, user: User) -> None:
    # Two admins demoting each other at once must not both see the other still in place.
    serialize_on(session, _ADMINS_LOCK)
    if (
        user.platform_role == Role.PLATFORM_ADMIN.value
        and not user.disabled
        and _other_active_admins(session, user.id) == 0
    ):
        raise AccountProblem("The platform needs at least one active platform admin.")


def _record(
    actor: Actor,
    action: str,
    user_id: uuid.UUID,
    *,
    clinics: Sequence[uuid.UUID] = (),
    reason: str | None = None,
    details: dict[str, object] | None = None,
) -> None:
    """Once in the platform chain, and once in the chain of each clinic the user belongs to."""
    for clinic in (None, *clinics):
        audit.record(
            actor,
            action,
            tenant_id=clinic,
            platform=clinic is None,
            target_type="user",
            target_id=user_id,
            reason=reason,
            details=details,
        )


def _invite_mail(session: ScopedSession, user: User, token: str) -> None:
    origin = get_settings().frontend_origin.rstrip("/")
    days = INVITE_LIFETIME.days
    outbox.enqueue_platform(
        session,
        channel=MessageChannel.EMAIL.value,
        recipient=user.email,
        kind=OutboxKind.STAFF_NOTICE,
        subject="Your MI Portal platform account",
        body=(
            f"Hello {user.full_name},\n\n"
            f"You have been invited to MI Portal as {role_label(user.platform_role or '')}.\n\n"
            f"Choose your password here (the link works once, for {days} days):\n"
            f"{origin}/invite?token={token}\n\n"
            "You will then set up two-step sign-in with an authenticator app.\n"
            "If you did not expect this email, ignore it."
        ),
    )


def invite(actor: Actor, *, email: object, full_name: object, role: object) -> str:
    """Create a platform account and email its set-password link; returns the new user's id."""
    check(actor, Permission.PLATFORM_USERS)
    try:
        address, name = clean_person(str(email or ""), str(full_name or ""))
    except ValueError as exc:
        field = "full_name" if "name" in str(exc) else "email"
        raise AccountProblem(str(exc), field) from None
    wanted = _platform_role(role)
    with platform_session() as session:
        existing = session.exec(select(User).where(User.email == address)).first()
        if existing is not None:
            raise AccountProblem(
                "This address is already platform staff."
                if existing.platform_role
                else "This address already has a clinic account. Platform and clinic accounts "
                "stay separate: invite the person with another address for platform work.",
                "email",
            )
        user = User(email=address, full_name=name, platform_role=wanted.value)
        token = issue_invite(user)
        session.add(user)
        try:
            session.flush()
        except IntegrityError:  # the same address invited at the same moment
            raise AccountProblem("This address already has an account.", "email") from None
        _invite_mail(session, user, token)
        session.commit()
        user_id = user.id
    _record(
        actor, "platform_user.invited", user_id, details={"email": address, "role": wanted.value}
    )
    return str(user_id)


def resend_invite(actor: Actor, user_id: object) -> None:
    """A fresh set-password link for platform staff who have not chosen a password yet."""
    check(actor, Permission.PLATFORM_USERS)
    with platform_session() as session:
        user = _user(session, user_id)
        if not user.platform_role:
            raise NotFound("user")  # clinic invitations are the clinic's
        if user.password_hash is not None or user.disabled:
            raise AccountProblem("Only a pending invitation can be sent again.")
        token = issue_invite(user)
        session.add(user)
        _invite_mail(session, user, token)
        session.commit()
        target = user.id
    _record(actor, "platform_user.invite_resent", target)


def change_role(actor: Actor, user_id: object, role: object) -> None:
    """Move platform staff between admin and support."""
    check(actor, Permission.PLATFORM_USERS)
    wanted = _platform_role(role)
    with platform_session() as session:
        user = _user(session, user_id)
        if not user.platform_role:
            raise NotFound("user")
        _not_self(actor, user, "change the role of")
        before = user.platform_role
        if before == wanted.value:
            return
        if wanted != Role.PLATFORM_ADMIN:
            _keep_an_admin(session, user)
        user.platform_role = wanted.value
        session.add(user)
        session.commit()
        target = user.id
    _record(
        actor, "platform_user.role_changed", target, details={"from": before, "to": wanted.value}
    )


def set_disabled(actor: Actor, user_id: object, *, disabled: bool, reason: object = "") -> None:
    """Disable any account everywhere at once (every session ends), or enable it again."""
    check(actor, Permission.PLATFORM_USERS)
    text = (
        _clean_reason(reason) if disabled else clean_text(reason, max_length=MAX_REASON, trim=True)
    )
    with platform_session() as session:
        user = _user(session, user_id)
        _not_self(actor, user, "disable or enable")
        if user.disabled == disabled:
            return
        sessions = 0
        if disabled:
            _keep_an_admin(session, user)
            sessions = revoke_sessions(session, user.id)
        user.disabled = disabled
        session.add(user)
        session.commit()
        target = user.id
    _record(
        actor,
        "platform_user.disabled" if disabled else "platform_user.enabled",
        target,
        clinics=[c for c, *_ in _memberships(target)],
        reason=text or None,
        details={"sessions_ended": sessions} if disabled else None,
    )


def reset_second_factor(actor: Actor, user_id: object, *, reason: object) -> None:
    """Clear a lost second factor: the person sets it up again at their next sign-in."""
    check(actor, Permission.MFA_RESET)
    text = _clean_reason(reason)
    with platform_session() as session:
        user = _user(session, user_id)
        _not_self(actor, user, "reset the second factor of")
        was_enrolled = user.totp_enabled_at is not None
        user.totp_secret = None
        user.totp_enabled_at = None
        user.totp_last_step = None
        user.mfa_reset_at = clock.now()
        codes = list(session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user.id)))
        for code in codes:
            session.delete(code)
        sessions = revoke_sessions(session, user.id)
        session.add(user)
        outbox.enqueue_platform(
            session,
            channel=MessageChannel.EMAIL.value,
            recipient=user.email,
            kind=OutboxKind.STAFF_NOTICE,
            subject="Your MI Portal two-step sign-in was reset",
            body=(
                f"Hello {user.full_name},\n\n"
                "The MI Portal platform team reset your two-step sign-in, and signed you out "
                "everywhere. At your next sign-in you will set it up again with your "
                "authenticator app; your old codes and recovery codes no longer work.\n\n"
                "If you did not ask for this, tell your clinic or the platform team at once."
            ),
        )
        session.commit()
        target = user.id
    _record(
        actor,
        "platform_user.mfa_reset",
        target,
        clinics=[c for c, *_ in _memberships(target)],
        reason=text,
        details={
            "was_enrolled": was_enrolled,
            "recovery_codes_removed": len(codes),
            "sessions_ended": sessions,
        },
    )
