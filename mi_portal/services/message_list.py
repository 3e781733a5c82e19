"""The clinic's conversations, newest activity first, with this user's unread counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import (
    Message,
    MessageDirection,
    MessageThread,
    Patient,
    Submission,
    Tenant,
    User,
)
from mi_portal.services import business_time, clinic_time
from mi_portal.services.actor import Actor
from mi_portal.services.case_lists import SEARCH_BY_REFERENCE, parse_reference, record_shown
from mi_portal.services.inbox import (
    full_identity,
    mask_name,
    minutes,
    reference,
    unread_for_me,
)
from mi_portal.services.permissions import Permission, check, has_permission
from mi_portal.services.text import clean_text

PAGE_SIZE = 25
MAX_PAGE = 100_000


@dataclass(frozen=True)
class ThreadQuery:
    unread: bool = False
    mine: bool = False  # the case is assigned to the acting user
    waiting: bool = False  # the last message was the clinic's: waiting for the patient
    search: str = ""
    page: int = 0


@dataclass(frozen=True)
class ThreadRow:
    thread_id: str
    submission_id: str
    reference: str
    patient: str
    assignee: str
    last_message_at: str
    waiting: bool
    unread: int


@dataclass
class ThreadPage:
    rows: list[ThreadRow]
    total: int
    page: int
    page_size: int
    masked: bool = True
    problem: str = ""
    zone_caption: str = ""  # "Times in Europe/London (GMT)"


def _unread_count(user_id: uuid.UUID | None) -> Any:
    """Inbound messages of the enclosing thread that ``user_id`` has not read (subquery)."""
    return (
        select(func.count())
        .select_from(Message)
        .where(
            col(Message.tenant_id) == MessageThread.tenant_id,
            col(Message.thread_id) == MessageThread.id,
            unread_for_me(),
        )
        .params(me=user_id)
        .scalar_subquery()
    )


def _activity() -> Any:
    return func.coalesce(col(MessageThread.last_message_at), col(MessageThread.created_at))


def _escape(term: str) -> str:
    return "%" + term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def thread_page(actor: Actor, q: ThreadQuery, *, page_size: int = PAGE_SIZE) -> ThreadPage:
    """One page of the clinic's threads; one audit event names the cases shown."""
    check(actor, Permission.CASES_VIEW)
    tenant_id = actor.require_tenant()
    page = max(0, min(q.page if isinstance(q.page, int) else 0, MAX_PAGE))
    term = clean_text(q.search, max_length=100, trim=True)
    ref = parse_reference(term) if term else None
    search_kind = "" if not term else "reference" if ref else "text"
    with tenant_session(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        show = full_identity(actor, tenant.settings)
        where = business_time.zone(tenant.timezone)
        if term and not ref and not show:
            # A masked role must not learn a name from which words find a conversation.
            session.rollback()
            record_shown(actor, view="messages", case_ids=[], search="text", outcome="denied")
            return ThreadPage([], 0, page, page_size, masked=True, problem=SEARCH_BY_REFERENCE)
        unread = _unread_count(actor.user_id).label("unread")
        conditions: list[Any] = []
        if q.unread:
            conditions.append(unread > 0)
        if q.mine:
            conditions.append(col(Submission.assignee_id) == actor.user_id)
        if q.waiting:
            conditions.append(col(MessageThread.last_direction) == MessageDirection.OUTBOUND.value)
        if term:
            matches: list[Any] = []
            if ref:
                matches.append(sa.cast(col(Submission.id), sa.Text).like(f"%{ref}"))
            if show:
                like = _escape(term)
                matches += [
                    func.lower(Patient.full_name).like(like, escape="\\"),
                    func.lower(Patient.email).like(like, escape="\\"),
                ]
            conditions.append(or_(*matches))
        base = (
            sa_select(
                col(MessageThread.id),
                col(Submission.id),
                col(Patient.full_name),
                col(User.full_name),
                _activity().label("activity"),
                col(MessageThread.last_direction),
                unread,
            )
            .join(
                Submission,
                and_(
                    col(Submission.tenant_id) == MessageThread.tenant_id,
                    col(Submission.id) == MessageThread.submission_id,
                ),
            )
            .join(
                Patient,
                and_(
                    col(Patient.tenant_id) == Submission.tenant_id,
                    col(Patient.id) == Submission.patient_id,
                ),
            )
            .outerjoin(User, col(User.id) == Submission.assignee_id)
            .where(*conditions)
        )
        counted = base.subquery()
        total = int(session.exec(select(func.count()).select_from(counted)).one())  # type: ignore[call-overload]
        rows = session.exec(
            base.order_by(_activity().desc(), col(MessageThread.id).desc())  # type: ignore[arg-type]
            .offset(page * page_size)
            .limit(page_size)
        ).all()
    result = [
        ThreadRow(
            thread_id=str(thread_id),
            submission_id=str(case_id),
            reference=reference(case_id),
            patient=name if show else mask_name(name),
            assignee=assignee or "",
            last_message_at=minutes(activity, where),
            waiting=direction == MessageDirection.OUTBOUND.value,
            unread=int(count or 0),
        )
        for thread_id, case_id, name, assignee, activity, direction, count in rows
    ]
    record_shown(
        actor,
        view="messages",
        case_ids=[r.submission_id for r in result],
        search=search_kind,
        extra={"page": page, "total": total},
    )
    return ThreadPage(
        result, total, page, page_size, masked=not show, zone_caption=clinic_time.caption(where)
    )


def total_unread(actor: Actor, *, lent: ScopedSession | None = None) -> int:
    """Inbound messages in all the clinic's threads this user has not read (0 without access).

    ``lent``: the page's own session (see ``tenant_session``)."""
    if not has_permission(actor, Permission.CASES_VIEW) or actor.tenant_id is None:
        return 0
    with tenant_session(actor.tenant_id, lent=lent) as session:
        statement = (
            select(func.count())
            .select_from(Message)
            .join(
                MessageThread,
                and_(
                    col(MessageThread.tenant_id) == Message.tenant_id,
                    col(MessageThread.id) == Message.thread_id,
                ),
            )
            .where(unread_for_me())
            .params(me=actor.user_id)
        )
        return int(session.exec(statement).one())
