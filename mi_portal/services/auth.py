"""Sign-in: passwords with throttling, TOTP second factor, and server-side sessions."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from cryptography.fernet import Fernet, InvalidToken
from pyotp.totp import TOTP
from sqlalchemy import update
from sqlmodel import col, select

from mi_portal.config import IDLE_TIMEOUT_SECONDS, get_settings
from mi_portal.db import ScopedSession, bind_user, platform_session
from mi_portal.models import (
    Membership,
    RecoveryCode,
    Role,
    Tenant,
    TenantStatus,
    User,
    UserSession,
)
from mi_portal.services import audit, clock, session_cache
from mi_portal.services.actor import Actor
from mi_portal.services.passwords import verify_password

IDLE_TIMEOUT = timedelta(seconds=IDLE_TIMEOUT_SECONDS)
ABSOLUTE_LIFETIME = timedelta(hours=12)
TICKET_LIFETIME = timedelta(seconds=60)
SWITCH_LIFETIME = timedelta(hours=1)
# Throttling: back-off doubles from the 5th failure in a row; the 50th locks for a day.
BACKOFF_AFTER = 5
MAX_BACKOFF = timedelta(minutes=15)
LOCK_AFTER = 50
LOCK_FOR = timedelta(hours=24)
# Sessions are touched at most this often, so every event does not write.
TOUCH_EVERY = timedelta(seconds=30)
RECOVERY_CODES = 10

GENERIC_FAILURE = "Email or password is incorrect, or sign-in is paused after several attempts."


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hash_ticket(ticket: str, browser: str) -> str:
    # The ticket is only good together with the binding value of the browser that signed in.
    return _hash_token(f"{ticket}:{browser}")


def _fernet() -> Fernet:
    key = hashlib.sha256(("totp:" + get_settings().secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(stored: str) -> str | None:
    try:
        return _fernet().decrypt(stored.encode()).decode()
    except InvalidToken:
        return None


# --- password step ---------------------------------------------------------------------------
# Every role can see health images (viewers see previews and thumbnails, not originals), so
# every user needs a second factor: check_password tells the caller whether enrolment is due.


@dataclass(frozen=True)
class PasswordResult:
    user_id: uuid.UUID | None
    needs_enrolment: bool = False
    error: str = ""


def check_password(
    email: str, password: str, *, ip: str | None, user_agent: str | None
) -> PasswordResult:
    """First step of sign-in. The error never tells whether the account exists."""
    email = email.strip().lower()[:254]
    now = clock.now()
    with platform_session() as session:
        user = session.exec(select(User).where(User.email == email)).first()
        ok = verify_password(user.password_hash if user else None, password[:1024])
        if user is None:
            audit.record(
                None,
                "auth.sign_in",
                outcome="failed",
                details={"reason": "password"},
                ip=ip,
                user_agent=user_agent,
            )
            return PasswordResult(None, error=GENERIC_FAILURE)
        locked = user.locked_until is not None and user.locked_until > now
        if not ok or locked or user.disabled:
            if not locked:
                _count_failure(user, now)
            session.add(user)
            session.commit()
            why = "locked" if locked else ("disabled" if user.disabled and ok else "password")
            audit.record(
                None,
                "auth.sign_in",
                user_id=user.id,
                outcome="failed",
                details={"reason": why},
                ip=ip,
                user_agent=user_agent,
            )
            return PasswordResult(None, error=GENERIC_FAILURE)
        closed = _only_closed_clinics(session, user)
        if closed:
            audit.record(
                None,
                "auth.sign_in",
                user_id=user.id,
                outcome="failed",
                details={"reason": "clinic_suspended"},
                ip=ip,
                user_agent=user_agent,
            )
            return PasswordResult(None, error=closed)
        needs_enrolment = user.totp_enabled_at is None
        if needs_enrolment:
            # Otherwise the count is cleared only once the second factor has passed too.
            user.failed_logins = 0
            user.locked_until = None
            session.add(user)
            session.commit()
        return PasswordResult(user.id, needs_enrolment=needs_enrolment)


def _only_closed_clinics(session, user: User) -> str:  # type: ignore[no-untyped-def]
    """Why a clinic user cannot sign in when every clinic they belong to is closed, else "".

    Told only after the password was right. Someone with another open clinic signs in as usual
    and simply does not see the closed one.
    """
    if user.platform_role:
        return ""
    bind_user(session, user.id)
    clinics = session.exec(
        select(Tenant.name, Tenant.status)
        .join(Membership, col(Membership.tenant_id) == Tenant.id)
        .where(Membership.user_id == user.id, col(Membership.disabled_at).is_(None))
        .order_by(Tenant.name)
    ).all()
    if not clinics or any(status == TenantStatus.ACTIVE.value for _name, status in clinics):
        return ""
    names = " and ".join(name for name, _status in clinics)
    verb = "is" if len(clinics) == 1 else "are"
    if all(status == TenantStatus.SUSPENDED.value for _name, status in clinics):
        return f"{names} {verb} suspended; contact MI Portal support."
    return f"{names} {verb} closed on MI Portal; contact MI Portal support."


def _count_failure(user: User, now: datetime) -> None:
    """One more failure in a row (password or second factor): back off, then lock."""
    user.failed_logins += 1
    n = user.failed_logins
    if n >= LOCK_AFTER:
        user.locked_until = now + LOCK_FOR
    elif n >= BACKOFF_AFTER:
        user.locked_until = now + min(timedelta(seconds=2 ** (n - BACKOFF_AFTER)), MAX_BACKOFF)


# --- second factor ---------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, email: str) -> str:
    return TOTP(secret).provisioning_uri(name=email, issuer_name="MI Portal")


def _hash_recovery(user_id: uuid.UUID, code: str) -> str:
    normalised = code.replace("-", "").replace(" ", "").lower()
    return hmac.new(
        get_settings().secret_key.encode(), f"{user_id}:{normalised}".encode(), "sha256"
    ).hexdigest()


def _totp_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to (±1 step of drift), if valid and newer than the last."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = TOTP(secret)
    current = int(clock.now().timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * totp.interval), code) and (
            last_step is None or step > last_step
        ):
            return step
    return None


def confirm_enrolment(
    user_id: uuid.UUID,
    secret: str,
    code: str,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
) -> list[str] | None:
    """Turn on TOTP once the user proves the secret works; returns the recovery codes (shown once)."""
    step = _totp_step(secret, code, None)
    with platform_session() as session:
        user = session.get(User, user_id)
        if user is None or user.disabled or step is None:
            audit.record(
                None, "mfa.enrol", user_id=user_id, outcome="failed", ip=ip, user_agent=user_agent
            )
            return None
        user.totp_secret = encrypt_secret(secret)
        user.totp_enabled_at = clock.now()
        user.totp_last_step = step
        session.add(user)
        for old in session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user_id)):
            session.delete(old)
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        for c in codes:
            session.add(RecoveryCode(user_id=user_id, code_hash=_hash_recovery(user_id, c)))
        session.commit()
    audit.record(None, "mfa.enrolled", user_id=user_id, ip=ip, user_agent=user_agent)
    return codes


def check_second_factor(
    user_id: uuid.UUID, code: str, *, ip: str | None = None, user_agent: str | None = None
) -> bool:
    """A TOTP code (each accepted once) or an unused recovery code (then used up)."""
    now = clock.now()
    with platform_session() as session:
        user = session.get(User, user_id)
        if user is None or user.disabled or not user.totp_secret:
            return False
        if user.locked_until is not None and user.locked_until > now:
            # Same back-off and lock as passwords: six digits must not be guessable in bulk.
            audit.record(
                None,
                "mfa.verify",
                user_id=user_id,
                outcome="failed",
                details={"reason": "locked"},
                ip=ip,
                user_agent=user_agent,
            )
            return False
        secret = decrypt_secret(user.totp_secret)
        step = _totp_step(secret, code, user.totp_last_step) if secret else None
        method = "totp"
        if step is not None:
            user.totp_last_step = step
            session.add(user)
        else:
            method = "recovery_code"
            hashed = _hash_recovery(user_id, code)
            recovery = session.exec(
                select(RecoveryCode).where(
                    RecoveryCode.user_id == user_id,
                    RecoveryCode.code_hash == hashed,
                    col(RecoveryCode.used_at).is_(None),
                )
            ).first()
            if recovery is None:
                _count_failure(user, now)
                session.add(user)
                session.commit()
                audit.record(
                    None,
                    "mfa.verify",
                    user_id=user_id,
                    outcome="failed",
                    ip=ip,
                    user_agent=user_agent,
                )
                return False
            recovery.used_at = now
            session.add(recovery)
        user.failed_logins = 0
        user.locked_until = None
        session.add(user)
        session.commit()
    audit.record(
        None,
        "mfa.verify",
        user_id=user_id,
        details={"method": method},
        ip=ip,
        user_agent=user_agent,
    )
    return True


# --- sessions --------------------------------------------------------------------------------


def start_session(
    user_id: uuid.UUID,
    *,
    mfa_passed: bool,
    ip: str | None,
    user_agent: str | None,
    browser: str,
    sso_scope: str | None = None,
) -> str:
    """Create a session and return a one-time ticket for the cookie-setting route.

    ``browser`` is the signing-in browser's binding value (api/binding.py): the ticket can only
    be redeemed together with it, so no other site can push its own ticket into a victim's browser.
    """
    if not browser:
        raise ValueError("a sign-in ticket must be bound to a browser")
    ticket = secrets.token_urlsafe(32)
    now = clock.now()
    with platform_session(user_id=user_id) as session:
        user = session.get(User, user_id)
        assert user is not None
        row = UserSession(
            user_id=user_id,
            ticket_hash=_hash_ticket(ticket, browser),
            ticket_expires_at=now + TICKET_LIFETIME,
            mfa_passed=mfa_passed,
            created_at=now,
            last_seen_at=now,
            expires_at=now + ABSOLUTE_LIFETIME,
            active_tenant_id=_default_tenant(session, user, sso_scope),
            sso_scope=sso_scope,
            ip=ip,
            user_agent=(user_agent or "")[:400] or None,
        )
        session.add(row)
        session.commit()
        session_id = row.id
    audit.record(
        None,
        "auth.sign_in",
        user_id=user_id,
        target_type="session",
        target_id=session_id,
        details={"mfa": mfa_passed},
        ip=ip,
        user_agent=user_agent,
    )
    return ticket


def redeem_ticket(ticket: str, *, browser: str | None) -> str | None:
    """Exchange a fresh ticket for the session token (the cookie's value); once only, and only
    in the browser it was bound to.

    One conditional UPDATE, so two simultaneous requests cannot both redeem the same ticket.
    """
    if not ticket or not browser:
        return None
    now = clock.now()
    token = secrets.token_urlsafe(32)
    with platform_session() as session:
        result = session.execute(
            update(UserSession)
            .where(
                col(UserSession.ticket_hash) == _hash_ticket(ticket, browser),
                col(UserSession.ticket_expires_at) >= now,
                col(UserSession.revoked_at).is_(None),
                col(UserSession.token_hash).is_(None),
            )
            .values(token_hash=_hash_token(token), ticket_hash=None, ticket_expires_at=None)
        )
        session.commit()
    return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def _scoped(memberships: list[Membership], sso_scope: str | None) -> list[Membership]:
    """A clinic's single-sign-on session reaches that clinic only."""
    if sso_scope is None:
        return memberships
    return [m for m in memberships if str(m.tenant_id) == sso_scope]


def _active_clinics(session, user_id: uuid.UUID) -> list[tuple[Membership, Tenant]]:  # type: ignore[no-untyped-def]
    """The user's memberships of active clinics, each with its clinic (one statement)."""
    return [
        (membership, tenant)
        for membership, tenant in session.exec(
            select(Membership, Tenant)
            .join(Tenant, Tenant.id == Membership.tenant_id)  # type: ignore[arg-type]
            .where(
                Membership.user_id == user_id, col(Membership.disabled_at).is_(None), Tenant.active
            )
            .order_by(Tenant.name)
        )
    ]


def _active_memberships(session, user_id: uuid.UUID) -> list[Membership]:  # type: ignore[no-untyped-def]
    return [membership for membership, _ in _active_clinics(session, user_id)]


def _default_tenant(session, user: User, sso_scope: str | None = None) -> uuid.UUID | None:  # type: ignore[no-untyped-def]
    if user.platform_role:
        return None  # platform staff start outside every clinic
    memberships = _scoped(_active_memberships(session, user.id), sso_scope)
    ids = [m.tenant_id for m in memberships]
    if user.last_tenant_id in ids:
        return user.last_tenant_id
    return ids[0] if len(ids) == 1 else None


@dataclass(frozen=True)
class SignedIn:
    """What a valid session resolves to, rebuilt on the server for every event."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    full_name: str
    mfa_passed: bool
    needs_enrolment: bool
    actor: Actor
    memberships: tuple[tuple[uuid.UUID, str, str, str], ...]  # (tenant id, slug, name, role)
    switch_reason: str | None
    switch_expires_at: datetime | None
    clinic_name: str | None


def resolve(
    token: str | None,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    activity: bool = True,
) -> SignedIn | None:
    """The signed-in user behind a session token, or ``None`` (expired, revoked, disabled).

    ``activity=False`` for requests a page makes on its own (renewing photo links): they do not
    keep an idle session alive, so an abandoned tab still times out.

    A worker answers from what it resolved a moment ago while nothing that decides access has
    changed (``session_cache``: changes are announced by the database; time is checked here).
    """
    if not token or len(token) > 200:
        return None
    key = _hash_token(token)
    found = _kept(key, ip, user_agent, activity)
    if found is not None:
        return found
    with session_cache.cache.one_reader(key):
        # Another request of the same tab may have just read and kept it.
        found = _kept(key, ip, user_agent, activity)
        if found is not None:
            return found
        return _read_session(key, ip=ip, user_agent=user_agent, activity=activity)


def resolve_kept(
    token: str | None,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    activity: bool = True,
) -> SignedIn | None:
    """``resolve``'s answer from what this worker keeps, touching no database (``None``: not
    kept, or the database has something to say: call ``resolve``). Cheap enough for an event
    loop, so an event handler sends no read to a thread when the answer is at hand."""
    if not token or len(token) > 200:
        return None
    return _kept(_hash_token(token), ip, user_agent, activity)


async def resolve_async(
    token: str | None,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    activity: bool = True,
) -> SignedIn | None:
    """``resolve`` for event handlers and routes: answered in place when this worker keeps the
    session, else read on a worker thread (under load every trip to the pool waits its turn,
    and most events and photo fetches find their session kept)."""
    kept = resolve_kept(token, ip=ip, user_agent=user_agent, activity=activity)
    if kept is not None:
        return kept
    return await asyncio.to_thread(
        functools.partial(resolve, token, ip=ip, user_agent=user_agent, activity=activity)
    )


def _kept(key: str, ip: str | None, user_agent: str | None, activity: bool) -> SignedIn | None:
    kept = session_cache.cache.get(key)
    if kept is not None and kept.good_at(
        clock.now(), idle=IDLE_TIMEOUT, touch=TOUCH_EVERY, activity=activity
    ):
        return kept.answer(ip, user_agent)
    return None


def _read_session(
    key: str, *, ip: str | None, user_agent: str | None, activity: bool
) -> SignedIn | None:
    """``resolve`` from the database, keeping the answer when nothing changed meanwhile."""
    now = clock.now()
    generation = session_cache.cache.generation()  # before reading: a change meanwhile voids it
    expired_switch: tuple[uuid.UUID, uuid.UUID | None, str, bool] | None = None
    with platform_session() as session:
        # The session and its user in one statement (this runs for every event and photo).
        found = session.exec(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)  # type: ignore[arg-type]
            .where(UserSession.token_hash == key)
        ).first()
        if found is None:
            return None
        row, user = found
        if row.revoked_at is not None:
            return None
        if now >= row.expires_at or now - row.last_seen_at >= IDLE_TIMEOUT:
            row.revoked_at = now
            session.add(row)
            session.commit()
            return None
        if user.disabled:
            return None
        # The session row is the proof of who this is: only now may their memberships be read.
        bind_user(session, user.id)
        if row.sso_scope == "platform" and not user.platform_role:
            return None
        clinics = _active_clinics(session, user.id)
        memberships = _scoped([m for m, _ in clinics], row.sso_scope)
        tenants = {t.id: t for _, t in clinics}
        tenant_id = row.active_tenant_id
        if tenant_id is not None and tenant_id not in tenants:
            # Platform staff switched into a clinic (or a clinic since closed): read it alone.
            switched = session.get(Tenant, tenant_id)
            if switched is not None:
                tenants[tenant_id] = switched
        role: Role
        if user.platform_role:
            role = Role(user.platform_role)
            closed = tenant_id is not None and not (
                tenant_id in tenants and tenants[tenant_id].active
            )
            if tenant_id is not None and (
                closed or row.switch_expires_at is None or row.switch_expires_at <= now
            ):
                # Out of time, or the clinic was suspended or closed meanwhile: the switch ends.
                expired_switch = (user.id, tenant_id, role.value, closed)
                row.active_tenant_id = tenant_id = None
                row.switch_reason = row.switch_expires_at = None
        else:
            by_tenant = {m.tenant_id: m for m in memberships}
            if tenant_id not in by_tenant:
                tenant_id = None
            role = Role(by_tenant[tenant_id].role) if tenant_id else Role.VIEWER
        if (activity and now - row.last_seen_at >= TOUCH_EVERY) or expired_switch:
            row.last_seen_at = now
            session.add(row)
            session.commit()
        actor = Actor(
            user_id=user.id,
            role=role,
            tenant_id=tenant_id,
            home_tenant_id=None if user.platform_role else tenant_id,
            ip=ip,
            user_agent=user_agent,
            session_id=row.id,
        )
        if not user.platform_role and tenant_id is None:
            # A clinic user who has not picked a clinic may only manage their own account.
            actor = Actor(
                user_id=user.id,
                role=Role.VIEWER,
                tenant_id=None,
                ip=ip,
                user_agent=user_agent,
                session_id=row.id,
            )
        result = SignedIn(
            session_id=row.id,
            user_id=user.id,
            email=user.email,
            full_name=user.full_name,
            mfa_passed=row.mfa_passed,
            needs_enrolment=user.totp_enabled_at is None,
            actor=actor,
            memberships=tuple(
                (m.tenant_id, tenants[m.tenant_id].slug, tenants[m.tenant_id].name, m.role)
                for m in memberships
                if m.tenant_id in tenants
            ),
            switch_reason=row.switch_reason,
            switch_expires_at=row.switch_expires_at,
            clinic_name=tenants[tenant_id].name if tenant_id and tenant_id in tenants else None,
        )
        if generation is not None and not expired_switch:
            session_cache.cache.put(
                key,
                generation,
                session_cache.Kept(
                    signed_in=result,
                    expires_at=row.expires_at,
                    last_seen_at=row.last_seen_at,
                    switch_expires_at=row.switch_expires_at if tenant_id else None,
                    kept_at=time.monotonic(),
                ),
            )
    if expired_switch:
        uid, tid, role_value, closed = expired_switch
        for platform in (False, True):
            audit.record(
                None,
                "tenant.switch_expired",
                user_id=uid,
                tenant_id=tid,
                platform=platform,
                details={"role": role_value, **({"clinic_closed": True} if closed else {})},
            )
    return result


def mark_mfa_passed(session_id: uuid.UUID) -> None:
    with platform_session() as session:
        row = session.get(UserSession, session_id)
        if row is not None:
            row.mfa_passed = True
            session.add(row)
            session.commit()


def sign_out(token: str | None) -> None:
    if not token:
        return
    with platform_session() as session:
        row = session.exec(
            select(UserSession).where(UserSession.token_hash == _hash_token(token))
        ).first()
        if row is None or row.revoked_at is not None:
            return
        row.revoked_at = clock.now()
        session.add(row)
        session.commit()
        user_id, session_id = row.user_id, row.id
    audit.record(
        None, "auth.sign_out", user_id=user_id, target_type="session", target_id=session_id
    )


def revoke_sessions(session: ScopedSession, user_id: uuid.UUID) -> int:
    """End every open session of ``user_id`` in the caller's transaction; returns how many."""
    now = clock.now()
    rows = list(
        session.exec(
            select(UserSession).where(
                UserSession.user_id == user_id, col(UserSession.revoked_at).is_(None)
            )
        )
    )
    for row in rows:
        row.revoked_at = now
        session.add(row)
    return len(rows)


def sign_out_everywhere(user_id: uuid.UUID, *, by: Actor | None = None) -> int:
    with platform_session() as session:
        count = revoke_sessions(session, user_id)
        session.commit()
    audit.record(
        by,
        "auth.sign_out_everywhere",
        user_id=by.user_id if by else user_id,
        target_type="user",
        target_id=user_id,
        details={"sessions": count},
    )
    return count
