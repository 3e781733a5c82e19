"""Notices to clinic staff, sent through the outbox like everything else.

Three kinds, each on or off per user and clinic (``NotificationPreference``; no row means the
role's default): a new case for the clinic, a case assigned to you, and a case whose quote is
about to be late. A notice names the case by its reference and links to it; it never carries
the patient's name, contact details or answers (staff read those signed in).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mi_portal.config import get_settings
from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import (
    Membership,
    NotificationPreference,
    OutboxKind,
    OutboxMessage,
    Role,
    Submission,
    SubmissionStatus,
    Tenant,
    User,
)
from mi_portal.services import audit, business_time, clinic_time, clock, outbox
from mi_portal.services.actor import Actor
from mi_portal.services.inbox import reference, soon_limit
from mi_portal.services.permissions import Permission, check

log = logging.getLogger(__name__)

NEW_CASE = "new_case"
ASSIGNED = "case_assigned"
SLA_SOON = "sla_soon"
KINDS: dict[str, str] = {
    NEW_CASE: "A new case arrives for the clinic",
    ASSIGNED: "A case is assigned to me",
    SLA_SOON: "A case assigned to me is about to miss its quote deadline",
}
# Who gets a kind when they never chose: leads hear of new cases; everyone of their assignments.
DEFAULT_ON: dict[str, frozenset[Role]] = {
    NEW_CASE: frozenset({Role.CLINIC_OWNER, Role.CLINIC_MANAGER, Role.COORDINATOR}),
    ASSIGNED: frozenset({Role.CLINIC_OWNER, Role.CLINIC_MANAGER, Role.COORDINATOR, Role.PROVIDER}),
    SLA_SOON: frozenset({Role.CLINIC_OWNER, Role.CLINIC_MANAGER, Role.COORDINATOR, Role.PROVIDER}),
}
OPEN_STATUSES = (SubmissionStatus.NEW.value, SubmissionStatus.IN_REVIEW.value)


def _members(session: ScopedSession) -> dict[uuid.UUID, Role]:
    rows = session.exec(
        select(Membership.user_id, Membership.role).where(
            Membership.tenant_id == session.tenant_id, col(Membership.disabled_at).is_(None)
        )
    ).all()
    out: dict[uuid.UUID, Role] = {}
    for user_id, role in rows:
        try:
            out[user_id] = Role(role)
        except ValueError:
            continue
    return out


def _choices(session: ScopedSession, kind: str) -> dict[uuid.UUID, bool]:
    rows = session.exec(
        select(NotificationPreference.user_id, NotificationPreference.enabled).where(
            NotificationPreference.kind == kind
        )
    ).all()
    return dict(rows)


def _wanting(
    session: ScopedSession, kind: str, among: set[uuid.UUID] | None = None
) -> list[uuid.UUID]:
    members, chosen = _members(session), _choices(session, kind)
    return [
        user_id
        for user_id, role in members.items()
        if (among is None or user_id in among) and chosen.get(user_id, role in DEFAULT_ON[kind])
    ]


def _emails(user_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    with platform_session() as session:
        return {
            u.id: u.email
            for u in session.exec(
                select(User).where(col(User.id).in_(user_ids), col(User.disabled).is_(False))
            )
        }


def _case_url(case_id: uuid.UUID) -> str:
    return f"{get_settings().frontend_origin.rstrip('/')}/cases/{case_id}"


def _queue(
    session: ScopedSession,
    email: str,
    subject: str,
    body: str,
    *,
    header_id: str | None = None,
) -> uuid.UUID | None:
    """Queue one notice; its id, or None when the address cannot be sent to."""
    try:
        row = outbox.enqueue(
            session, channel="email", recipient=email, subject=subject, body=body,
            kind=OutboxKind.STAFF_NOTICE,
        )  # fmt: skip
    except ValueError:
        # A staff address the outbox cannot send to must never stop the change it reports (a
        # patient's intake above all); the notice is skipped, without the address in the log.
        log.warning("a staff notice was skipped: the recipient's address is not deliverable")
        return None
    if header_id:
        row.header_id = header_id
    return row.id


def notify_new_case(session: ScopedSession, case: Submission, clinic_name: str) -> list[uuid.UUID]:
    """Queue 'new case' notices in the transaction that stores the case; their ids."""
    recipients = _emails(_wanting(session, NEW_CASE))
    ref = reference(case.id)
    queued = [
        _queue(
            session,
            email,
            f"New case {ref} at {clinic_name}",
            f"A new case ({ref}) has arrived at {clinic_name}.\n\nOpen it: {_case_url(case.id)}\n",
        )
        for email in recipients.values()
    ]
    return [notice for notice in queued if notice is not None]


def notify_assigned(
    session: ScopedSession, actor: Actor, case: Submission, assignee_id: uuid.UUID
) -> bool:
    """Queue an 'assigned to you' notice (not when people assign cases to themselves)."""
    if assignee_id == actor.user_id or not _wanting(session, ASSIGNED, {assignee_id}):
        return False
    email = _emails([assignee_id]).get(assignee_id)
    if email is None:
        return False
    ref = reference(case.id)
    _queue(
        session,
        email,
        f"Case {ref} was assigned to you",
        f"Case {ref} was assigned to you.\n\nOpen it: {_case_url(case.id)}\n",
    )
    return True


def sla_sweep() -> int:
    """Warn assignees of open cases whose quote is due soon, by the queue's own rule (a quarter
    of the clinic's quote target in business hours, at least one); once per case and assignee
    (a fixed Message-ID makes a second warning collide and be skipped)."""
    with platform_session() as session:
        tenants = session.exec(select(Tenant).where(col(Tenant.active).is_(True))).all()
        clinics = [
            (t.id, t.name, business_time.calendar_for(t), t.quote_turnaround_hours) for t in tenants
        ]
    sent = 0
    now = clock.now()
    for tenant_id, clinic_name, calendar, target in clinics:
        soon = soon_limit(now, calendar, target)
        with tenant_session(tenant_id) as session:
            cases = session.exec(
                select(Submission).where(
                    col(Submission.status).in_(OPEN_STATUSES),
                    col(Submission.assignee_id).is_not(None),
                    col(Submission.sla_due_at) > now,
                    col(Submission.sla_due_at) <= soon,
                )
            ).all()
            pending = [(c.id, c.assignee_id, c.sla_due_at) for c in cases]
        for case_id, assignee_id, due in pending:
            assert assignee_id is not None and due is not None
            header = f"<sla.{case_id.hex}.{assignee_id.hex}@mi-portal.outbox>"
            with tenant_session(tenant_id) as session:
                if not _wanting(session, SLA_SOON, {assignee_id}):
                    continue
                if session.exec(
                    select(OutboxMessage.id).where(OutboxMessage.header_id == header)
                ).first():
                    continue
                email = _emails([assignee_id]).get(assignee_id)
                if email is None:
                    continue
                ref = reference(case_id)
                _queue(
                    session,
                    email,
                    f"Case {ref} is due soon",
                    f"The quote for case {ref} at {clinic_name} is due "
                    f"{clinic_time.minutes_with_zone(due, calendar.zone)}."
                    f"\n\nOpen it: {_case_url(case_id)}\n",
                    header_id=header,
                )
                try:
                    session.commit()
                except IntegrityError:  # another worker warned in the meantime
                    session.rollback()
                    continue
                sent += 1
    return sent


@dataclass(frozen=True)
class PreferenceLine:
    kind: str
    label: str
    enabled: bool


def preferences(actor: Actor) -> list[PreferenceLine]:
    """The acting user's choices in this clinic (defaults shown as chosen)."""
    check(actor, Permission.CASES_VIEW)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        lines = []
        for kind, label in KINDS.items():
            chosen = _choices(session, kind).get(actor.user_id)  # type: ignore[arg-type]
            default = actor.role in DEFAULT_ON[kind]
            lines.append(PreferenceLine(kind, label, default if chosen is None else chosen))
        return lines


def set_preference(actor: Actor, kind: str, enabled: bool) -> None:
    """Turn one kind of notice on or off for the acting user in this clinic (audited)."""
    check(actor, Permission.CASES_VIEW)
    if kind not in KINDS:
        raise ValueError("Unknown kind of notice.")
    if actor.user_id is None or actor.is_platform:
        raise ValueError("Only clinic staff receive notices.")
    with tenant_session(actor.require_tenant()) as session:
        row = session.exec(
            select(NotificationPreference).where(
                NotificationPreference.user_id == actor.user_id,
                NotificationPreference.kind == kind,
            )
        ).first()
        if row is None:
            row = NotificationPreference(user_id=actor.user_id, kind=kind)
        row.enabled = bool(enabled)
        session.add(row)
        session.commit()
    audit.record(actor, "notifications.changed", details={"kind": kind, "enabled": bool(enabled)})


__all__ = [
    "ASSIGNED",
    "KINDS",
    "NEW_CASE",
    "SLA_SOON",
    "notify_assigned",
    "notify_new_case",
    "preferences",
    "set_preference",
    "sla_sweep",
]
