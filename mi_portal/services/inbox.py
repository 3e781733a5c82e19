"""The case queue: one page of a clinic's cases, filtered, sorted and searched in the database."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, exists, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import (
    Message,
    MessageThread,
    Patient,
    Quote,
    Role,
    Submission,
    SubmissionImage,
    SubmissionStatus,
    Tenant,
    User,
)
from mi_portal.services import clock
from mi_portal.services.actor import Actor
from mi_portal.services.permissions import Permission, check

PAGE_SIZE = 50
SORTS = {"received", "last_activity", "sla_due"}
OPEN_FOR_SLA = (SubmissionStatus.NEW.value, SubmissionStatus.IN_REVIEW.value)
# Roles that see full identity in the list unless the owner says otherwise (the rest see masked
# details and blurred thumbnails until they open a case).
DEFAULT_FULL_IDENTITY = {Role.CLINIC_OWNER.value, Role.CLINIC_MANAGER.value, Role.PROVIDER.value}


@dataclass(frozen=True)
class InboxQuery:
    status: str = ""
    assignee: str = ""  # "", "mine", "unassigned" or a user id
    concern_area: str = ""
    received_from: str = ""  # YYYY-MM-DD
    received_to: str = ""
    has_quote: str = ""  # "", "yes", "no"
    unread: bool = False
    search: str = ""
    sort: str = "sla_due"
    descending: bool = False
    page: int = 0


@dataclass(frozen=True)
class InboxRow:
    id: str
    reference: str
    patient: str
    contact: str
    concern_area: str
    status: str
    assignee: str
    received_at: str
    last_activity_at: str
    sla: str  # on_time | due_soon | overdue | met | missed | none
    sla_due_at: str
    photos: int
    unread: int
    masked: bool


@dataclass
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    page_size: int
    status_counts: dict[str, int] = field(default_factory=dict)


def minutes(moment: datetime | None) -> str:
    """'YYYY-MM-DD HH:MM' (UTC), cheaply: this runs three times per row of every page."""
    return moment.isoformat(" ", "minutes")[:16] if moment else ""


def reference(submission_id: uuid.UUID | str) -> str:
    return str(submission_id)[-8:].upper()


def mask_name(name: str) -> str:
    return " ".join(part[:1].upper() + "." for part in name.split() if part) or "—"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}" if domain else "•••"


def mask_phone(phone: str | None) -> str:
    digits = [c for c in phone or "" if c.isdigit()]
    return "•••" + "".join(digits[-2:]) if digits else ""


def full_identity(actor: Actor, tenant_settings: dict[str, Any]) -> bool:
    """Whether this role sees names and contact details in lists (owners can change the default)."""
    if actor.is_platform:
        return False
    chosen = tenant_settings.get("full_identity_roles")
    roles = set(chosen) if isinstance(chosen, list) else DEFAULT_FULL_IDENTITY
    return actor.role.value in roles


def sla_state(submission: Any, now: datetime, turnaround_hours: int) -> str:
    """on_time | due_soon | overdue while a quote is owed; met | missed once sent; else none."""
    due = submission.sla_due_at
    if due is None:
        return "none"
    if submission.quote_sent_at is not None:
        return "met" if submission.quote_sent_at <= due else "missed"
    if submission.status not in OPEN_FOR_SLA:
        return "none"
    if now >= due:
        return "overdue"
    soon = timedelta(hours=max(1.0, turnaround_hours * 0.25))
    return "due_soon" if due - now <= soon else "on_time"


def _day(value: str, *, end: bool = False) -> datetime | None:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    moment = datetime.combine(day, time.min, tzinfo=clock.now().tzinfo)
    return moment + timedelta(days=1) if end else moment


def _filters(actor: Actor, q: InboxQuery, *, with_status: bool = True) -> list[Any]:
    conditions: list[Any] = []
    if with_status and q.status in {s.value for s in SubmissionStatus}:
        conditions.append(Submission.status == q.status)
    if q.assignee == "mine":
        conditions.append(Submission.assignee_id == actor.user_id)
    elif q.assignee == "unassigned":
        conditions.append(col(Submission.assignee_id).is_(None))
    elif q.assignee:
        try:
            conditions.append(Submission.assignee_id == uuid.UUID(q.assignee))
        except ValueError:
            conditions.append(col(Submission.id).is_(None))  # an unknown assignee matches nothing
    if q.concern_area:
        conditions.append(Submission.concern_area == q.concern_area[:64])
    if start := _day(q.received_from):
        conditions.append(Submission.received_at >= start)
    if end := _day(q.received_to, end=True):
        conditions.append(Submission.received_at < end)
    quoted = exists().where(
        and_(
            col(Quote.tenant_id) == Submission.tenant_id, col(Quote.submission_id) == Submission.id
        )
    )
    if q.has_quote == "yes":
        conditions.append(quoted)
    elif q.has_quote == "no":
        conditions.append(~quoted)
    if q.unread:
        conditions.append(_unread_exists())
    term = " ".join(q.search.split())[:100]
    if term:
        like = f"%{term.lower()}%"
        digits = "".join(c for c in term if c.isdigit())
        matches = [func.lower(Patient.full_name).like(like), func.lower(Patient.email).like(like)]
        if len(digits) >= 3:
            matches.append(
                func.replace(func.replace(func.coalesce(Patient.phone, ""), " ", ""), "-", "").like(
                    f"%{digits}%"
                )
            )
        conditions.append(or_(*matches))
    return conditions


def _unread_exists() -> Any:
    return exists().where(
        and_(
            col(MessageThread.tenant_id) == Submission.tenant_id,
            col(MessageThread.submission_id) == Submission.id,
            col(Message.tenant_id) == MessageThread.tenant_id,
            col(Message.thread_id) == MessageThread.id,
            col(Message.direction) == "inbound",
            col(Message.read_at).is_(None),
        )
    )


def _order(q: InboxQuery) -> list[Any]:
    column = {
        "received": Submission.received_at,
        "last_activity": Submission.last_activity_at,
        "sla_due": Submission.sla_due_at,
    }.get(q.sort if q.sort in SORTS else "sla_due", Submission.sla_due_at)
    primary = col(column).desc() if q.descending else col(column).asc()
    return [primary.nulls_last(), col(Submission.id).asc()]


def _json(value: Any) -> dict[str, Any]:
    """JSON from a subquery column: PostgreSQL hands back objects, SQLite text."""
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else {}


def inbox_page(actor: Actor, q: InboxQuery, *, page_size: int = PAGE_SIZE) -> InboxPage:
    """The visible page of the clinic's queue, its total, and a live count per status."""
    check(actor, Permission.CASES_VIEW)
    tenant_id = actor.require_tenant()
    page = max(0, min(int(q.page) if isinstance(q.page, int) else 0, 100_000))
    now = clock.now()
    joined = and_(
        col(Patient.tenant_id) == Submission.tenant_id, col(Patient.id) == Submission.patient_id
    )
    photos = (
        select(func.count())
        .where(
            col(SubmissionImage.tenant_id) == Submission.tenant_id,
            col(SubmissionImage.submission_id) == Submission.id,
        )
        .scalar_subquery()
    )
    unread = (
        select(func.count())
        .select_from(MessageThread)
        .join(
            Message,
            and_(
                col(Message.tenant_id) == MessageThread.tenant_id,
                col(Message.thread_id) == MessageThread.id,
            ),
        )
        .where(
            col(MessageThread.tenant_id) == Submission.tenant_id,
            col(MessageThread.submission_id) == Submission.id,
            col(Message.direction) == "inbound",
            col(Message.read_at).is_(None),
        )
        .scalar_subquery()
    )
    # Plain columns, not ORM objects: the page is read-only and this keeps it cheap.
    page_columns = (
        col(Submission.id), col(Submission.status), col(Submission.concern_area), col(Submission.received_at),
        col(Submission.last_activity_at), col(Submission.sla_due_at), col(Submission.quote_sent_at),
        col(Patient.full_name), col(Patient.email), col(Patient.phone), col(User.full_name).label("assignee"),
        photos.label("photos"), unread.label("unread"),
    )  # fmt: skip
    with tenant_session(tenant_id) as session:
        # One statement carries the page, the per-status counts behind the tabs and the clinic's
        # queue settings (uncorrelated subqueries, evaluated once), so the page costs the same
        # round trips as a bare query. An empty page falls back to asking for the rest directly.
        counted = select(col(Submission.status).label("status"), func.count().label("n"))
        if q.search.strip():
            counted = counted.join(Patient, joined)
        grouped = (
            counted.where(*_filters(actor, q, with_status=False))
            .group_by(col(Submission.status))
            .subquery()
        )
        postgres = session.get_bind().dialect.name == "postgresql"
        as_json = func.json_object_agg if postgres else func.json_group_object
        # As text: decoded once in Python, not once per row by the driver.
        counts_column = sa_select(
            sa.cast(as_json(grouped.c.status, grouped.c.n), sa.Text)
        ).scalar_subquery()
        tenant_columns = (
            sa_select(sa.cast(col(Tenant.settings), sa.Text))
            .where(col(Tenant.id) == tenant_id)
            .scalar_subquery(),
            sa_select(col(Tenant.quote_turnaround_hours))
            .where(col(Tenant.id) == tenant_id)
            .scalar_subquery(),
        )
        rows = session.execute(
            sa_select(
                *page_columns,
                counts_column.label("counts"),
                tenant_columns[0].label("tenant_settings"),
                tenant_columns[1].label("turnaround"),
            )
            .join(Patient, joined)
            .outerjoin(User, col(User.id) == Submission.assignee_id)
            .where(*_filters(actor, q))
            .order_by(*_order(q))
            .offset(page * page_size)
            .limit(page_size)
        ).all()
        if rows:
            raw_counts, raw_settings, turnaround = (
                rows[0].counts,
                rows[0].tenant_settings,
                rows[0].turnaround,
            )
        else:
            tenant = session.get(Tenant, tenant_id)
            assert tenant is not None
            raw_settings, turnaround = tenant.settings, tenant.quote_turnaround_hours
            raw_counts = session.execute(sa_select(counts_column)).scalar()
    counts = {str(k): int(v) for k, v in _json(raw_counts).items()}
    settings = _json(raw_settings)
    status_filter = q.status in {st.value for st in SubmissionStatus}
    total = counts.get(q.status, 0) if status_filter else sum(counts.values())
    show_identity = full_identity(actor, settings)
    result = [
        InboxRow(
            id=str(r.id),
            reference=reference(r.id),
            patient=r.full_name if show_identity else mask_name(r.full_name),
            contact=(r.email if show_identity else mask_email(r.email))
            + (f" · {r.phone if show_identity else mask_phone(r.phone)}" if r.phone else ""),
            concern_area=r.concern_area,
            status=r.status,
            assignee=r.assignee or "",
            received_at=minutes(r.received_at),
            last_activity_at=minutes(r.last_activity_at),
            sla=sla_state(r, now, turnaround),
            sla_due_at=minutes(r.sla_due_at),
            photos=int(r.photos or 0),
            unread=int(r.unread or 0),
            masked=not show_identity,
        )
        for r in rows
    ]
    return InboxPage(
        result,
        total,
        page,
        page_size,
        {st.value: counts.get(st.value, 0) for st in SubmissionStatus},
    )
