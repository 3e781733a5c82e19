"""A clinic's life cycle, for platform staff: list, create, suspend, reactivate, off-board.

Platform work done from outside every clinic (NEEDS_PLATFORM). Counts and dates are read inside
each clinic's own tenant session, so no patient data leaves a clinic; every change is recorded in
the platform's audit chain and in the clinic's own. A clinic's row is never deleted, so a slug
once given out is never given out again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mi_portal.config import get_settings
from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    LegalHold,
    Membership,
    MessageChannel,
    OutboxKind,
    Submission,
    Tenant,
    TenantStatus,
    User,
)
from mi_portal.models.tenancy import UserSession
from mi_portal.services import audit, clock, onboarding, outbox, tenant_export
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.clinic_fields import ClinicInvalid, ClinicProblem, check_fields
from mi_portal.services.legal_holds import active_hold_clause
from mi_portal.services.permissions import Permission, check
from mi_portal.services.tenant_purge import PurgeRefused, purge_tenant
from mi_portal.services.text import TextTooLong, clean_text
from mi_portal.services.users import INVITE_LIFETIME

STATUS_LABELS = {
    TenantStatus.ACTIVE.value: "Active",
    TenantStatus.SUSPENDED.value: "Suspended",
    TenantStatus.OFFBOARDING.value: "Off-boarding",
    TenantStatus.CLOSED.value: "Closed",
}
MAX_REASON = 1000
EXPORTS_DIR = "exports"


@dataclass(frozen=True)
class ClinicRow:
    id: str
    slug: str
    name: str
    status: str
    status_label: str
    status_reason: str
    created_at: datetime
    staff: int
    last_activity: datetime | None


@dataclass(frozen=True)
class Created:
    tenant_id: uuid.UUID
    slug: str
    # The owner's set-password token: None when the address already had an account.
    invite_token: str | None


@dataclass(frozen=True)
class Offboarded:
    slug: str
    export_dir: Path
    rows_exported: int
    objects_exported: int
    objects_missing: int
    cases_purged: int


def _platform(actor: Actor, permission: Permission) -> Actor:
    return check(actor, permission)  # NEEDS_PLATFORM: refused when switched into a clinic


def _clinic_counts(tenant_id: uuid.UUID) -> tuple[int, datetime | None]:
    """Active staff and the latest case activity, counted in the clinic's own scope."""
    with tenant_session(tenant_id) as session:
        staff = session.exec(
            select(sa.func.count())
            .select_from(Membership)
            .join(User, col(User.id) == Membership.user_id)
            .where(
                Membership.tenant_id == tenant_id,
                col(Membership.disabled_at).is_(None),
                col(User.disabled).is_(False),
            )
        ).one()
        latest = session.exec(select(sa.func.max(Submission.last_activity_at))).one()
    return int(staff), latest


def _staff_seen() -> dict[uuid.UUID, datetime]:
    """When someone last worked in each clinic (sessions carry no patient data)."""
    with platform_session() as session:
        rows = session.exec(
            select(UserSession.active_tenant_id, sa.func.max(UserSession.last_seen_at))
            .where(col(UserSession.active_tenant_id).is_not(None))
            .group_by(col(UserSession.active_tenant_id))
        ).all()
    return {tid: seen for tid, seen in rows if tid is not None}


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def list_clinics(actor: Actor, *, status: str = "", search: str = "") -> list[ClinicRow]:
    """Every clinic with its status, staff and last activity; filtered by status and name/slug."""
    _platform(actor, Permission.CLINICS_LIST)
    wanted = clean_text(search, max_length=100, trim=True).lower()
    with platform_session() as session:
        query = select(Tenant).order_by(Tenant.name)
        if status in STATUS_LABELS:
            query = query.where(Tenant.status == status)
        if wanted:
            # Typed % and _ are searched for as themselves, not as wildcards.
            query = query.where(
                sa.or_(
                    sa.func.lower(col(Tenant.name)).contains(wanted, autoescape=True),
                    col(Tenant.slug).contains(wanted, autoescape=True),
                )
            )
        tenants = list(session.exec(query))
    seen = _staff_seen()
    rows = []
    for t in tenants:
        staff, latest = _clinic_counts(t.id)
        rows.append(
            ClinicRow(
                id=str(t.id),
                slug=t.slug,
                name=t.name,
                status=t.status,
                status_label=STATUS_LABELS.get(t.status) or t.status,
                status_reason=t.status_reason,
                created_at=t.created_at,
                staff=staff,
                last_activity=_later(latest, seen.get(t.id)),
            )
        )
    return rows


def create_clinic(
    actor: Actor, *, name: object, slug: object, timezone: object, locale: object,
    currency: object, jurisdiction: object, owner_email: object, owner_name: object,
) -> Created:  # fmt: skip
    """A new, active clinic and its first owner's invitation (audited in both chains)."""
    _platform(actor, Permission.CLINICS_MANAGE)
    clean, problems = check_fields(
        name, slug, timezone, locale, currency, jurisdiction, owner_email, owner_name
    )
    if problems:
        raise ClinicInvalid(problems)
    with platform_session() as session:
        taken = session.exec(select(Tenant).where(Tenant.slug == clean["slug"])).first()
        if taken is not None:
            raise ClinicInvalid({"slug": _taken_message(taken)})
        owner_problem = _owner_problem(session, clean["owner_email"])
        if owner_problem:
            raise ClinicInvalid({"owner_email": owner_problem})
        tenant = Tenant(
            slug=clean["slug"],
            name=clean["name"],
            timezone=clean["timezone"],
            locale=clean["locale"],
            currency=clean["currency"],
            jurisdiction=clean["jurisdiction"],
            status=TenantStatus.ACTIVE.value,
            active=True,
            status_changed_at=clock.now(),
        )
        session.add(tenant)
        try:
            session.commit()
        except IntegrityError:
            # Another operator took the same slug a moment ago.
            raise ClinicInvalid({"slug": "That address was just taken; choose another."}) from None
        tenant_id = tenant.id
    try:
        token = onboarding.provision_first_owner(
            actor=actor,
            tenant_id=tenant_id,
            email=clean["owner_email"],
            full_name=clean["owner_name"],
        )
    except Exception:
        # Nothing refers to the new row yet: remove it, so a failed owner step neither leaves a
        # clinic without an owner nor uses up its address.
        with platform_session() as session:
            session.exec(sa.delete(Tenant).where(col(Tenant.id) == tenant_id))  # type: ignore[call-overload]
            session.commit()
        raise
    details = {k: v for k, v in clean.items() if not k.startswith("owner_")}
    _record_both(actor, "clinic.created", tenant_id, details)
    _owner_invitation(clean["owner_email"], clean["owner_name"], clean["name"], token)
    return Created(tenant_id, clean["slug"], token)


def _record_both(
    actor: Actor, action: str, clinic: uuid.UUID, details: dict[str, Any], **extra: Any
) -> None:
    """The platform's chain says who did it; the clinic's own chain shows what happened to it."""
    for platform in (True, False):
        audit.record(
            actor,
            action,
            tenant_id=clinic,
            platform=platform,
            target_type="tenant",
            target_id=clinic,
            details=details,
            **extra,
        )


def _owner_problem(session: Any, email: str) -> str:
    """Why this address cannot own a new clinic ("" when it can), checked before any write."""
    user = session.exec(select(User).where(User.email == email)).first()
    if user is None:
        return ""
    if user.platform_role:
        return "This address belongs to platform staff; a clinic owner needs a clinic account."
    if user.disabled:
        return "This account is disabled; enable it first or use another address."
    return ""


def _owner_invitation(email: str, full_name: str, clinic: str, token: str | None) -> None:
    """The first owner's email, through the platform's outbox (an existing account: a notice)."""
    origin = get_settings().frontend_origin.rstrip("/")
    if token is not None:
        step = (
            f"Choose your password here (the link works once, for {INVITE_LIFETIME.days} days):\n"
            f"{origin}/invite?token={token}\n\n"
            "You will then set up two-step sign-in with an authenticator app."
        )
    else:
        step = f"Sign in with your existing account at {origin}/signin to start."
    with platform_session() as session:
        outbox.enqueue_platform(
            session,
            channel=MessageChannel.EMAIL.value,
            recipient=email,
            kind=OutboxKind.STAFF_NOTICE,
            subject=f"{clinic} on MI Portal: you are its owner",
            body=(
                f"Hello {full_name},\n\n"
                f"{clinic} has been set up on MI Portal with you as its owner.\n\n"
                f"{step}\n\nIf you did not expect this email, ignore it."
            ),
        )
        session.commit()


def _taken_message(tenant: Tenant) -> str:
    if tenant.status == TenantStatus.CLOSED.value:
        return "That address belonged to a clinic that was closed; addresses are never reused."
    return "Another clinic already has that address; choose another."


def _load(session, tenant_id: uuid.UUID, *, lock: bool = False) -> Tenant:  # type: ignore[no-untyped-def]
    tenant = session.get(Tenant, tenant_id, with_for_update=lock)
    if tenant is None:
        raise NotFound("clinic")
    return tenant


def _set_status(
    actor: Actor, tenant_id: object, *, to: TenantStatus, allowed_from: set[str],
    action: str, reason: str,
) -> None:  # fmt: skip
    clinic = parse_id(tenant_id, "clinic")
    with platform_session() as session:
        # Locked: two operators changing the status at once take turns.
        tenant = _load(session, clinic, lock=True)
        old = tenant.status
        if old not in allowed_from:
            raise ClinicProblem(
                "status", f"{tenant.name} is {STATUS_LABELS.get(old, old).lower()}; it cannot be "
                f"{'suspended' if to == TenantStatus.SUSPENDED else 'reactivated'}."
            )  # fmt: skip
        tenant.status = to.value
        tenant.active = to == TenantStatus.ACTIVE
        tenant.status_reason = reason
        tenant.status_changed_at = clock.now()
        session.add(tenant)
        session.commit()
    _record_both(
        actor, action, clinic, {"status": {"old": old, "new": to.value}}, reason=reason or None
    )


def suspend(actor: Actor, tenant_id: object, reason: object) -> None:
    """Close the clinic to its staff and its patients; nothing it holds is touched."""
    _platform(actor, Permission.CLINICS_MANAGE)
    try:
        text = clean_text(reason, max_length=MAX_REASON, multiline=True)
    except TextTooLong:
        raise ClinicProblem("reason", f"Keep the reason under {MAX_REASON} characters.") from None
    if len(text) < 5:
        raise ClinicProblem("reason", "Write why the clinic is suspended.")
    _set_status(
        actor, tenant_id, to=TenantStatus.SUSPENDED, allowed_from={TenantStatus.ACTIVE.value},
        action="clinic.suspended", reason=text,
    )  # fmt: skip


def reactivate(actor: Actor, tenant_id: object) -> None:
    """Open a suspended clinic again: its staff, its patient pages and its links work again."""
    _platform(actor, Permission.CLINICS_MANAGE)
    _set_status(
        actor, tenant_id, to=TenantStatus.ACTIVE, allowed_from={TenantStatus.SUSPENDED.value},
        action="clinic.reactivated", reason="",
    )  # fmt: skip


def export_root() -> Path:
    """Where off-boarding exports are written: a private folder under the data folder."""
    return get_settings().data_dir / EXPORTS_DIR


def offboard(actor: Actor, tenant_id: object, typed_slug: object) -> Offboarded:
    """Export everything the clinic holds, then purge it; the row and its slug stay (closed)."""
    _platform(actor, Permission.CLINICS_MANAGE)
    clinic = parse_id(tenant_id, "clinic")
    with platform_session() as session:
        tenant = _load(session, clinic)
        slug, status = tenant.slug, tenant.status
    if status == TenantStatus.CLOSED.value:
        raise ClinicProblem("status", "This clinic is already closed.")
    if clean_text(typed_slug, max_length=100, trim=True) != slug:
        raise ClinicProblem("confirm", "Type the clinic's address exactly to confirm.")
    with tenant_session(clinic) as session:
        held = session.exec(
            select(sa.func.count()).select_from(LegalHold).where(active_hold_clause(clock.now()))
        ).one()
    if held:
        _record_offboard(actor, clinic, "denied", {"reason": "legal_holds", "holds": held})
        raise ClinicProblem(
            "confirm", f"{held} legal holds are in force; the clinic must release them first."
        )
    # Closed before the export: nothing may arrive between the export and the purge.
    with platform_session() as session:
        tenant = _load(session, clinic, lock=True)
        tenant.status, tenant.active = TenantStatus.OFFBOARDING.value, False
        tenant.status_changed_at = clock.now()
        session.add(tenant)
        session.commit()
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    export = tenant_export.export_tenant(slug, export_root() / f"{slug}-{stamp}")
    # Objects the store had already lost cannot be exported whatever happens: the manifest
    # lists them, and they are counted in the result and the audit record.
    try:
        purged = purge_tenant(slug, confirm=slug)
    except PurgeRefused as exc:
        _record_offboard(actor, clinic, "failed", {"export_dir": str(export.out_dir)})
        raise ClinicProblem(
            "confirm", f"Exported to {export.out_dir}, but the purge stopped: {exc}."
        ) from None
    result = Offboarded(
        slug, export.out_dir, export.rows, export.objects, len(export.missing_objects), purged.cases
    )
    _record_offboard(
        actor,
        clinic,
        "ok",
        {
            "export_dir": str(export.out_dir),
            "rows_exported": export.rows,
            "objects_exported": export.objects,
            "objects_missing": len(export.missing_objects),
            "cases_purged": purged.cases,
        },
    )
    return result


def _record_offboard(actor: Actor, clinic: uuid.UUID, outcome: str, details: dict) -> None:  # type: ignore[type-arg]
    _record_both(actor, "clinic.offboarded", clinic, details, outcome=outcome)
