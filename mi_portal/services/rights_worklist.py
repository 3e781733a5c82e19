"""The platform's work list of privacy-rights requests and one request's detail (read only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import col, select

from mi_portal.db import ScopedSession, platform_session
from mi_portal.models import (
    RightsRequest,
    RightsRequestStep,
    Tenant,
    User,
)
from mi_portal.services import clock, rights_deadlines
from mi_portal.services.actor import Actor
from mi_portal.services.permissions import Permission, check
from mi_portal.services.rights_common import (
    CLINIC_STATUS_LABELS,
    CLOSED,
    KIND_LABELS,
    OPEN,
    STATUS_LABELS,
    RightsProblem,
    S,
    find_request,
)

# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicLine:
    id: str
    name: str
    status: str
    status_label: str


@dataclass(frozen=True)
class RequestRow:
    id: str
    reference: str
    kind: str
    kind_label: str
    jurisdiction: str
    jurisdiction_label: str
    received: str  # YYYY-MM-DD
    status: str
    status_label: str
    due_on: str
    tone: str  # overdue, soon, ok (closed requests: ok)
    badge: str
    clinics: list[ClinicLine] = field(default_factory=list)


@dataclass(frozen=True)
class StepLine:
    at: str
    action: str
    note: str
    who: str


@dataclass(frozen=True)
class RequestDetail:
    row: RequestRow
    requester_name: str
    requester_email: str
    requester_phone: str
    details: str
    by_agent: bool
    agent_name: str
    agent_email: str
    acknowledge_by: str
    extended: bool
    extension_reason: str
    outcome: str
    outcome_note: str
    timeline: list[StepLine]
    can_forward: bool
    can_close_no_data: bool
    can_extend: bool
    can_deny: bool
    can_withdraw: bool


def _today() -> date:
    return clock.now().date()


def _iso(day: date | datetime | None) -> str:
    if day is None:
        return ""
    if isinstance(day, datetime):
        return day.strftime("%Y-%m-%d %H:%M")
    return day.isoformat()


def _clinic_names(session: ScopedSession, requests: list[RightsRequest]) -> dict[str, str]:
    ids = {uuid.UUID(c) for r in requests for c in r.matched_clinics}
    if not ids:
        return {}
    rows = session.exec(select(Tenant.id, Tenant.name).where(col(Tenant.id).in_(ids))).all()
    return {str(i): name for i, name in rows}


def _row(request: RightsRequest, names: dict[str, str], today: date) -> RequestRow:
    if request.status in {s.value for s in CLOSED}:
        tone, text = "ok", STATUS_LABELS.get(request.status, request.status)
    else:
        tone, text = rights_deadlines.badge(request.due_on, today)
    clinics = [
        ClinicLine(
            id=c,
            name=names.get(c, "A clinic no longer on the platform"),
            status=str(request.clinic_status.get(c, "")),
            status_label=CLINIC_STATUS_LABELS.get(str(request.clinic_status.get(c, "")), ""),
        )
        for c in request.matched_clinics
    ]
    return RequestRow(
        id=str(request.id),
        reference=request.reference,
        kind=request.kind,
        kind_label=KIND_LABELS.get(request.kind, request.kind),
        jurisdiction=request.jurisdiction,
        jurisdiction_label=_jurisdiction_label(request.jurisdiction),
        received=request.received_at.date().isoformat(),
        status=request.status,
        status_label=STATUS_LABELS.get(request.status, request.status),
        due_on=_iso(request.due_on),
        tone=tone,
        badge=text,
        clinics=clinics,
    )


def _jurisdiction_label(code: str) -> str:
    label = getattr(rights_deadlines, "label", None)
    try:
        return str(label(code)) if label and code else code
    except (KeyError, ValueError):
        return code


def work_list(
    actor: Actor, *, status: str = "open", kind: str = "", include_unverified: bool = False
) -> list[RequestRow]:
    """The platform's requests, deadline first; unverified ones only when asked for."""
    check(actor, Permission.RIGHTS_FORWARD)
    query = select(RightsRequest)
    if status == "open":
        wanted = [s.value for s in OPEN] + ([S.UNVERIFIED.value] if include_unverified else [])
        query = query.where(col(RightsRequest.status).in_(wanted))
    elif status == "closed":
        query = query.where(col(RightsRequest.status).in_([s.value for s in CLOSED]))
    elif status in {s.value for s in S}:
        if status == S.UNVERIFIED and not include_unverified:
            return []
        query = query.where(RightsRequest.status == status)
    elif status == "all":
        if not include_unverified:
            query = query.where(RightsRequest.status != S.UNVERIFIED.value)
    else:
        raise RightsProblem("Unknown status filter.")
    if kind:
        if kind not in KIND_LABELS:
            raise RightsProblem("Unknown kind of request.")
        query = query.where(RightsRequest.kind == kind)
    query = query.order_by(
        col(RightsRequest.due_on).asc().nulls_last(), col(RightsRequest.received_at).asc()
    ).limit(500)
    today = _today()
    with platform_session() as session:
        requests = list(session.exec(query).all())
        names = _clinic_names(session, requests)
    return [_row(r, names, today) for r in requests]


def detail(actor: Actor, request_id: object) -> RequestDetail:
    """One request with its requester, clinics' statuses and timeline (oldest step first)."""
    check(actor, Permission.RIGHTS_FORWARD)
    with platform_session() as session:
        request = find_request(session, request_id)
        names = _clinic_names(session, [request])
        steps = session.exec(
            select(RightsRequestStep)
            .where(RightsRequestStep.request_id == request.id)
            .order_by(col(RightsRequestStep.at), col(RightsRequestStep.id))
        ).all()
        people = {s.actor_id for s in steps if s.actor_id}
        who = (
            dict(
                session.exec(select(User.id, User.full_name).where(col(User.id).in_(people))).all()
            )
            if people
            else {}
        )
    status = request.status
    open_ = status in {s.value for s in OPEN}
    return RequestDetail(
        row=_row(request, names, _today()),
        requester_name=request.requester_name,
        requester_email=request.requester_email,
        requester_phone=request.requester_phone or "",
        details=request.details,
        by_agent=request.by_agent,
        agent_name=request.agent_name,
        agent_email=request.agent_email,
        acknowledge_by=_iso(request.acknowledge_by),
        extended=request.extended_at is not None,
        extension_reason=request.extension_reason,
        outcome=request.outcome,
        outcome_note=request.outcome_note,
        timeline=[
            StepLine(
                at=_iso(s.at),
                action=s.action,
                note=s.note,
                who=who.get(s.actor_id, "—") if s.actor_id else "The system",
            )
            for s in steps
        ],
        can_forward=status == S.PENDING and bool(request.matched_clinics),
        can_close_no_data=status == S.PENDING and not request.matched_clinics,
        can_extend=open_ and request.extended_at is None and request.due_on is not None,
        can_deny=open_,
        can_withdraw=open_,
    )
