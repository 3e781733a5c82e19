"""The case queue: one page of a clinic's cases, filtered, sorted and searched in the database."""

from __future__ import annotations

import functools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import and_, exists, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import (
    Message,
    MessageThread,
    Patient,
    Quote,
    QuoteStatus,
    Role,
    Submission,
    SubmissionImage,
    SubmissionStatus,
    Tenant,
    ThreadRead,
    User,
)
from mi_portal.services import business_time, clinic_time, clock
from mi_portal.services.actor import Actor
from mi_portal.services.case_lists import SEARCH_BY_REFERENCE, parse_reference, record_shown
from mi_portal.services.legal_holds import held_case_ids
from mi_portal.services.permissions import Permission, check
from mi_portal.services.text import clean_text

PAGE_SIZE = 50
SORTS = {"received", "last_activity", "sla_due"}
_STATUS_VALUES = frozenset(s.value for s in SubmissionStatus)
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
    assignee_id: str
    received_at: str
    last_activity_at: str
    sla: str  # on_time | due_soon | overdue | met | missed | none
    sla_due_at: str
    photos: int
    unread: int
    masked: bool
    held: bool = False  # under a legal hold (on the case or its patient)


@dataclass
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    page_size: int
    status_counts: dict[str, int] = field(default_factory=dict)
    # Names and contacts masked for this role: it may search by case reference only.
    masked: bool = True
    # Set when the search was refused (a masked role typed something other than a reference).
    problem: str = ""
    # The clinic's time zone: every time on the page is on its clock ("Times in …").
    zone_caption: str = ""


def minutes(moment: datetime | None, where: ZoneInfo = clinic_time.UTC_ZONE) -> str:
    """'YYYY-MM-DD HH:MM' on the clinic's clock, cheaply: this runs three times per row."""
    return clinic_time.minutes(moment, where)


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


SOON_SHARE = 0.25  # "due soon": at most a quarter of the target's business hours left


def soon_limit(now: datetime, calendar: business_time.Calendar, target_hours: float) -> datetime:
    """Due times up to this moment are "due soon": ≤ 25% of the target (at least one business
    hour) is left in business time. Computed once per page; each row then only compares."""
    share = max(1.0, float(target_hours or 0) * SOON_SHARE)
    try:
        return business_time.add_business_hours(now, share, calendar)
    except business_time.NoOpenTime:
        return datetime.max.replace(tzinfo=now.tzinfo)


def sla_state(submission: Any, now: datetime, soon: datetime) -> str:
    """on_time | due_soon | overdue while a quote is owed; met | missed once sent; else none."""
    return _sla(submission.status, submission.sla_due_at, submission.quote_sent_at, now, soon)


def first_response_state(submission: Any, now: datetime, soon: datetime) -> str:
    """The same states for the clinic's first reply to the patient."""
    return _sla(
        submission.status,
        submission.first_response_due_at,
        submission.first_response_at,
        now,
        soon,
    )


def _sla(
    status: str, due: datetime | None, done: datetime | None, now: datetime, soon: datetime
) -> str:
    if due is None:
        return "none"
    if done is not None:
        return "met" if done <= due else "missed"
    if status not in OPEN_FOR_SLA:
        return "none"
    if now >= due:
        return "overdue"
    return "due_soon" if due <= soon else "on_time"


class _Clinic(NamedTuple):
    """What the queue needs of the clinic row, read with the page."""

    settings: dict[str, Any]
    turnaround: int
    calendar: business_time.Calendar


def _clinic(raw_settings: Any, turnaround: Any, zone: Any, hours: Any, closed: Any) -> _Clinic:
    calendar = business_time.cached_calendar(
        str(zone or "UTC"),
        business_time.freeze_hours(_json(hours)),
        tuple(str(d) for d in _json_list(closed)),
    )
    return _Clinic(_json(raw_settings), int(turnaround or 0), calendar)


def _json_list(value: Any) -> list[Any]:
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return list(value) if isinstance(value, list) else []


class _Shape(NamedTuple):
    """What decides the statement's text; the values travel as bound parameters."""

    status: bool
    assignee: str  # "", "mine" / "user" (a bound id), "unassigned", "none" (matches nothing)
    concern: bool
    start: bool
    end: bool
    has_quote: str
    unread: bool
    search: bool  # by name, email (and phone when ``phone``)
    phone: bool
    sort: str
    descending: bool
    postgres: bool
    reference: bool = False  # by case reference


_PHONE_LIKE = re.compile(r"[\d\s()+.\-]+")


def _search_term(q: InboxQuery) -> str:
    return clean_text(q.search, max_length=100, trim=True)


def _shape(
    actor: Actor,
    q: InboxQuery,
    *,
    postgres: bool,
    identity: bool = True,
    where: ZoneInfo = clinic_time.UTC_ZONE,
) -> tuple[_Shape, dict[str, Any]]:
    """The statement's shape and parameters; without ``identity`` only a reference is searched."""
    params: dict[str, Any] = {}
    status = q.status in _STATUS_VALUES
    if status:
        params["status"] = q.status
    assignee = ""
    if q.assignee == "mine":
        assignee, params["assignee"] = "user", actor.user_id
    elif q.assignee == "unassigned":
        assignee = "unassigned"
    elif q.assignee:
        try:
            assignee, params["assignee"] = "user", uuid.UUID(q.assignee)
        except ValueError:
            assignee = "none"  # an unknown assignee matches nothing
    if q.concern_area:
        params["concern"] = q.concern_area[:64]
    # A day typed in a filter is a day on the clinic's clock.
    if start := clinic_time.day_bound(q.received_from, where):
        params["start"] = start
    if end := clinic_time.day_bound(q.received_to, where, end=True):
        params["end"] = end
    term = _search_term(q)
    ref = parse_reference(term) if term else None
    if ref:
        params["ref"] = f"%{ref}"  # hex digits only: nothing to escape
    if not identity:
        term = ""
    # Digits are looked for in phone numbers only when the term reads as a phone number: the
    # digits among a reference's hex letters (``3f5a1d20``) are not part of any number.
    digits = "".join(c for c in term if c.isdigit()) if _PHONE_LIKE.fullmatch(term) else ""
    if term:
        # % and _ typed into the search box are text, not wildcards.
        escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params["like"] = f"%{escaped}%"
    if term and len(digits) >= 3:
        params["digits"] = f"%{digits}%"
    shape = _Shape(
        status=status,
        assignee=assignee,
        concern=bool(q.concern_area),
        start=start is not None,
        end=end is not None,
        has_quote=q.has_quote if q.has_quote in {"yes", "no"} else "",
        unread=bool(q.unread),
        search=bool(term),
        phone=bool(term) and len(digits) >= 3,
        sort=q.sort if q.sort in SORTS else "sla_due",
        descending=bool(q.descending),
        postgres=postgres,
        reference=ref is not None,
    )
    return shape, params


def _in_tenant(model: Any) -> Any:
    return col(model.tenant_id) == sa.bindparam("tenant", type_=sa.Uuid())


def _filters(shape: _Shape, *, with_status: bool = True) -> list[Any]:
    """The WHERE clause of a shape: every tenant table is pinned to :tenant explicitly."""
    conditions: list[Any] = [_in_tenant(Submission)]
    if with_status and shape.status:
        conditions.append(Submission.status == sa.bindparam("status"))
    if shape.assignee == "user":
        conditions.append(Submission.assignee_id == sa.bindparam("assignee"))
    elif shape.assignee == "unassigned":
        conditions.append(col(Submission.assignee_id).is_(None))
    elif shape.assignee == "none":
        conditions.append(col(Submission.id).is_(None))
    if shape.concern:
        conditions.append(Submission.concern_area == sa.bindparam("concern"))
    if shape.start:
        conditions.append(Submission.received_at >= sa.bindparam("start"))
    if shape.end:
        conditions.append(Submission.received_at < sa.bindparam("end"))
    # "Has a quote": one was sent to the patient (a draft alone does not count).
    quoted = exists().where(
        and_(
            col(Quote.tenant_id) == Submission.tenant_id,
            col(Quote.submission_id) == Submission.id,
            col(Quote.status) != QuoteStatus.DRAFT.value,
        )
    )
    if shape.has_quote == "yes":
        conditions.append(quoted)
    elif shape.has_quote == "no":
        conditions.append(~quoted)
    if shape.unread:
        conditions.append(_unread_exists())
    matches: list[Any] = []
    if shape.reference:
        # The reference is the id's tail: uuid text in PostgreSQL, 32 hex digits in SQLite.
        matches.append(
            sa.cast(col(Submission.id), sa.Text).like(sa.bindparam("ref", type_=sa.String()))
        )
    if shape.search:
        like = sa.bindparam("like", type_=sa.String())
        matches += [
            func.lower(Patient.full_name).like(like, escape="\\"),
            func.lower(Patient.email).like(like, escape="\\"),
        ]
        if shape.phone:
            matches.append(
                func.replace(func.replace(func.coalesce(Patient.phone, ""), " ", ""), "-", "").like(
                    sa.bindparam("digits", type_=sa.String())
                )
            )
    if matches:
        conditions.append(or_(*matches))
    return conditions


def unread_for_me() -> Any:
    """An inbound message newer than the acting user's read marker of its thread (``:me``).

    Unread is per user: one colleague reading a thread leaves it unread for the others.
    """
    return and_(
        col(Message.direction) == "inbound",
        ~exists().where(
            and_(
                # Correlated to the message itself, not its thread: it is the nearest enclosing
                # row in every statement this is used in (a thread may be two levels up).
                col(ThreadRead.tenant_id) == Message.tenant_id,
                col(ThreadRead.thread_id) == Message.thread_id,
                col(ThreadRead.user_id) == sa.bindparam("me", type_=sa.Uuid()),
                col(ThreadRead.read_until) >= Message.created_at,
            )
        ),
    )


def _unread_exists() -> Any:
    return exists().where(
        and_(
            col(MessageThread.tenant_id) == Submission.tenant_id,
            col(MessageThread.submission_id) == Submission.id,
            col(Message.tenant_id) == MessageThread.tenant_id,
            col(Message.thread_id) == MessageThread.id,
            unread_for_me(),
        )
    )


def _order(shape: _Shape) -> list[Any]:
    column = {
        "received": Submission.received_at,
        "last_activity": Submission.last_activity_at,
        "sla_due": Submission.sla_due_at,
    }[shape.sort]
    primary = col(column).desc() if shape.descending else col(column).asc()
    return [primary.nulls_last(), col(Submission.id).asc()]


def _json(value: Any) -> dict[str, Any]:
    """JSON from a subquery column: PostgreSQL hands back objects, SQLite text."""
    if value is None:
        return {}
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return dict(value) if isinstance(value, dict) else {}


CASE_PATIENT = and_(
    col(Patient.tenant_id) == Submission.tenant_id, col(Patient.id) == Submission.patient_id
)


def photo_count() -> Any:
    """The number of photos of the case in the enclosing query (a correlated subquery)."""
    return (
        select(func.count())
        .where(
            col(SubmissionImage.tenant_id) == Submission.tenant_id,
            col(SubmissionImage.submission_id) == Submission.id,
        )
        .scalar_subquery()
    )


def _side_columns(shape: _Shape) -> tuple[Any, ...]:
    """Per-status counts (for the tabs) and the clinic's queue settings, as scalar subqueries."""
    counted = select(col(Submission.status).label("status"), func.count().label("n"))
    if shape.search:
        counted = counted.join(Patient, CASE_PATIENT)
    grouped = counted.where(*_filters(shape, with_status=False)).group_by(col(Submission.status))
    grouped = grouped.subquery()
    as_json = func.json_object_agg if shape.postgres else func.json_group_object
    # As text: decoded once in Python, not once per row by the driver.
    counts = sa_select(sa.cast(as_json(grouped.c.status, grouped.c.n), sa.Text)).scalar_subquery()
    tenant = col(Tenant.id) == sa.bindparam("tenant")
    settings = sa_select(sa.cast(col(Tenant.settings), sa.Text)).where(tenant).scalar_subquery()
    turnaround = sa_select(col(Tenant.quote_turnaround_hours)).where(tenant).scalar_subquery()
    zone = sa_select(col(Tenant.timezone)).where(tenant).scalar_subquery()
    hours = sa_select(sa.cast(col(Tenant.business_hours), sa.Text)).where(tenant)
    closed = sa_select(sa.cast(col(Tenant.closed_days), sa.Text)).where(tenant)
    return (
        counts.label("counts"),
        settings.label("settings"),
        turnaround.label("turnaround"),
        zone.label("zone"),
        hours.scalar_subquery().label("hours"),
        closed.scalar_subquery().label("closed"),
    )


@functools.lru_cache(maxsize=512)
def _statements(shape: _Shape) -> tuple[Any, Any]:
    """The page statement of a shape, and the one asked when the page comes back empty.

    Built once per shape and reused with new parameters: building and hashing a statement of
    this size costs more than running it.
    """
    photos = photo_count()
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
            unread_for_me(),
        )
        .scalar_subquery()
    )
    side = _side_columns(shape)
    # Plain columns, not ORM objects: the page is read-only and this keeps it cheap. Its order
    # is the unpacking order in inbox_page.
    page = (
        sa_select(
            col(Submission.id),
            col(Submission.status),
            col(Submission.concern_area),
            col(Submission.received_at),
            col(Submission.last_activity_at),
            col(Submission.sla_due_at),
            col(Submission.quote_sent_at),
            col(Patient.full_name),
            col(Patient.email),
            col(Patient.phone),
            col(User.full_name),
            col(Submission.assignee_id),
            photos,
            unread,
            *side,
        )  # fmt: skip
        .join(Patient, and_(CASE_PATIENT, _in_tenant(Patient)))
        .outerjoin(User, col(User.id) == Submission.assignee_id)
        .where(*_filters(shape))
        .order_by(*_order(shape))
        .offset(sa.bindparam("offset", type_=sa.Integer()))
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )
    return page, sa_select(*side)


def inbox_page(
    actor: Actor,
    q: InboxQuery,
    *,
    page_size: int = PAGE_SIZE,
    lent: ScopedSession | None = None,
) -> InboxPage:
    """The visible page of the clinic's queue, its total, and a live count per status.
    (``lent``: see ``tenant_session``.)"""
    check(actor, Permission.CASES_VIEW)
    tenant_id = actor.require_tenant()
    page = max(0, min(int(q.page) if isinstance(q.page, int) else 0, 100_000))
    now = clock.now()
    term = _search_term(q)
    search_kind = "" if not term else "reference" if parse_reference(term) else "text"
    # Whether names may be searched is settled before the search runs: a masked role must not
    # learn a name or address from which terms find a case. Only a search asks.
    identity = not term or full_identity(actor, _settings(tenant_id))
    if term and not identity and search_kind != "reference":
        return _refused(actor, page, page_size)
    with tenant_session(tenant_id, lent=lent) as session:
        # One statement carries the page, the per-status counts behind the tabs and the clinic's
        # queue settings (uncorrelated subqueries, evaluated once), so the page costs the same
        # round trips as a bare query. An empty page falls back to asking for the rest directly.
        # It runs on the session's connection (row-level security set for this tenant) rather
        # than through the ORM's per-statement tenant criteria: every tenant table in it is
        # pinned to :tenant by _filters, and the tests hold that to every shape.
        connection = session.connection()
        postgres = connection.dialect.name == "postgresql"
        # A date filter is read on the clinic's clock: only then is its zone needed up front.
        where = _zone_of(session, tenant_id) if q.received_from or q.received_to else None
        shape, params = _shape(
            actor, q, postgres=postgres, identity=identity, where=where or clinic_time.UTC_ZONE
        )
        params.update(tenant=tenant_id, me=actor.user_id, offset=page * page_size, limit=page_size)
        page_statement, side_statement = _statements(shape)
        rows: list[tuple[Any, ...]] = [tuple(r) for r in connection.execute(page_statement, params)]
        side: tuple[Any, ...] = (
            rows[0][-_SIDE:] if rows else tuple(connection.execute(side_statement, params).one())
        )
        raw_counts, *clinic_columns = side
        # One query for the whole page's legal holds, not one per row.
        held = held_case_ids(session, [r[0] for r in rows], now) if rows else set()
    counts = {str(k): int(v) for k, v in _json(raw_counts).items()}
    clinic = _clinic(*clinic_columns)
    settings, calendar = clinic.settings, clinic.calendar
    where = calendar.zone
    soon = soon_limit(now, calendar, clinic.turnaround)
    status_filter = q.status in _STATUS_VALUES
    total = counts.get(q.status, 0) if status_filter else sum(counts.values())
    show_identity = full_identity(actor, settings)
    result = []
    for (
        row_id, status, concern, received, last_activity, due, quote_sent, name, email, phone,
        assignee, assignee_id, photo_count, unread_count, *_side,
    ) in rows:  # fmt: skip
        if show_identity:
            contact = f"{email} · {phone}" if phone else email
        else:
            name = mask_name(name)
            contact = f"{mask_email(email)} · {mask_phone(phone)}" if phone else mask_email(email)
        text_id = str(row_id)
        result.append(
            InboxRow(
                id=text_id,
                reference=text_id[-8:].upper(),
                patient=name,
                contact=contact,
                concern_area=concern,
                status=status,
                assignee=assignee or "",
                assignee_id=str(assignee_id) if assignee_id else "",
                received_at=minutes(received, where),
                last_activity_at=minutes(last_activity, where),
                sla=_sla(status, due, quote_sent, now, soon),
                sla_due_at=minutes(due, where),
                photos=photo_count or 0,
                unread=unread_count or 0,
                masked=not show_identity,
                held=row_id in held,
            )
        )
    # One event per page view, naming the cases on it: the rows themselves cost no extra query.
    record_shown(
        actor,
        view="queue",
        case_ids=[r.id for r in result],
        search=search_kind,
        extra={"page": page, "total": total},
    )
    return InboxPage(
        result,
        total,
        page,
        page_size,
        {st.value: counts.get(st.value, 0) for st in SubmissionStatus},
        masked=not show_identity,
        zone_caption=clinic_time.caption(where),
    )


_SIDE = 6  # the side columns at the end of every page row


def _zone_of(session: Any, tenant_id: uuid.UUID) -> ZoneInfo:
    statement = sa_select(col(Tenant.timezone)).where(col(Tenant.id) == tenant_id)
    return business_time.zone(session.connection().execute(statement).scalar())


def _settings(tenant_id: uuid.UUID) -> dict[str, Any]:
    statement = sa_select(sa.cast(col(Tenant.settings), sa.Text)).where(col(Tenant.id) == tenant_id)
    with tenant_session(tenant_id) as session:
        return _json(session.connection().execute(statement).scalar())


def _refused(actor: Actor, page: int, page_size: int) -> InboxPage:
    """An empty page for a search by name or contact from a role that sees them masked."""
    record_shown(actor, view="queue", case_ids=[], search="text", outcome="denied")
    counts = {st.value: 0 for st in SubmissionStatus}
    return InboxPage([], 0, page, page_size, counts, problem=SEARCH_BY_REFERENCE)
