"""Privacy-rights requests on the platform: the work list, forwarding to the clinics that hold
data, and the platform's own closing steps (no data held, extension, withdrawal, denial).

The platform reads only its own ``RightsRequest`` rows; a clinic gets its own copy of a request
(``RightsRequestForward``) written in that clinic's session, and answers it there
(``rights_clinic``). Each clinic's answer comes back through ``record_clinic_answer``.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mi_portal.db import ScopedSession, platform_session, serialize_on, tenant_session
from mi_portal.models import ForwardStatus as F
from mi_portal.models import (
    MessageChannel,
    OutboxKind,
    PlatformOutboxMessage,
    RightsRequest,
    RightsRequestForward,
    RightsRequestStatus,
    RightsRequestStep,
    Tenant,
    User,
)
from mi_portal.models import RightsRequestKind as K
from mi_portal.services import audit, clock, rights_deadlines
from mi_portal.services.actor import Actor, NotFound
from mi_portal.services.permissions import Permission, check
from mi_portal.services.text import TextTooLong, clean_text

S = RightsRequestStatus
OPEN = (S.PENDING, S.FORWARDED, S.IN_PROGRESS)
CLOSED = (S.COMPLETED, S.DENIED, S.WITHDRAWN, S.EXPIRED)
ANSWERED = (F.COMPLETED.value, F.DENIED.value)

KIND_LABELS = {
    K.ACCESS.value: "Know / access",
    K.DELETION.value: "Delete",
    K.CORRECTION.value: "Correct",
    K.OPT_OUT.value: "Opt out of sale or sharing",
    K.LIMIT.value: "Limit sensitive data",
}
STATUS_LABELS = {
    S.UNVERIFIED.value: "Identity not verified",
    S.PENDING.value: "Verified, to forward",
    S.FORWARDED.value: "Forwarded",
    S.IN_PROGRESS.value: "In progress",
    S.COMPLETED.value: "Completed",
    S.DENIED.value: "Denied",
    S.WITHDRAWN.value: "Withdrawn",
    S.EXPIRED.value: "Expired",
}
CLINIC_STATUS_LABELS = {
    F.FORWARDED.value: "Forwarded",
    F.IN_PROGRESS.value: "In progress",
    F.COMPLETED.value: "Completed",
    F.DENIED.value: "Denied",
    "": "Not forwarded yet",
}
STATUS_FILTERS = ("open", "closed", "all", *(s.value for s in S))
MIN_REASON, MAX_REASON = 3, 1000


class RightsProblem(ValueError):
    """The action does not fit the request as it is now; the message says why."""


def clean_reason(value: object, what: str = "reason") -> str:
    """A reason or note: cleaned text of 3 to 1,000 characters; ``RightsProblem`` otherwise."""
    try:
        text = clean_text(value, max_length=MAX_REASON, multiline=True)
    except TextTooLong:
        raise RightsProblem(f"Keep the {what} under {MAX_REASON} characters.") from None
    if len(text) < MIN_REASON:
        raise RightsProblem(f"Give a {what} (at least {MIN_REASON} characters).")
    return text


# --- the platform outbox --------------------------------------------------------------------
# LOCAL STAND-IN for ``outbox.enqueue_platform`` (branch rights-intake, same signature): swap
# this function for that one when both are merged.
def enqueue_platform(
    session: ScopedSession,
    *,
    channel: str,
    recipient: object,
    body: str,
    subject: str = "",
    html_body: str | None = None,
    kind: OutboxKind | str = OutboxKind.RIGHTS_NOTICE,
) -> PlatformOutboxMessage:
    """Queue one platform-level delivery in the caller's transaction (stand-in, see above)."""
    from mi_portal.services.outbox import MAX_BODY, MAX_SUBJECT, normal_recipient

    if len(body) > MAX_BODY or len(subject) > MAX_SUBJECT:
        raise ValueError("The message is too long to send.")
    row = PlatformOutboxMessage(
        kind=str(kind),
        channel=channel,
        recipient=normal_recipient(channel, recipient),
        subject=subject if channel == MessageChannel.EMAIL else "",
        body=body,
        html_body=html_body if channel == MessageChannel.EMAIL else None,
        next_attempt_at=clock.now(),
    )
    session.add(row)
    return row


def _recipients(request: RightsRequest) -> list[str]:
    found = [request.requester_email]
    if request.by_agent and request.agent_email and request.agent_email != request.requester_email:
        found.append(request.agent_email)
    return [r for r in found if r]


def _tell_requester(session: ScopedSession, request: RightsRequest, text: str) -> None:
    subject = f"Your privacy request {request.reference}"
    body = f"Hello,\n\n{text}\n\nReference: {request.reference}\n"
    for recipient in _recipients(request):
        enqueue_platform(
            session, channel=MessageChannel.EMAIL.value, recipient=recipient, body=body,
            subject=subject,
        )  # fmt: skip


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


def _find(session: ScopedSession, key: object, *, lock: bool = False) -> RightsRequest:
    """A request by id or by reference; ``NotFound`` otherwise."""
    text = str(key or "").strip()[:64]
    query = select(RightsRequest)
    try:
        query = query.where(RightsRequest.id == uuid.UUID(text))
    except ValueError:
        query = query.where(RightsRequest.reference == text.upper())
    if lock:
        query = query.with_for_update()
    found = session.exec(query).first()
    if found is None:
        raise NotFound("rights request")
    return found


def detail(actor: Actor, request_id: object) -> RequestDetail:
    """One request with its requester, clinics' statuses and timeline (oldest step first)."""
    check(actor, Permission.RIGHTS_FORWARD)
    with platform_session() as session:
        request = _find(session, request_id)
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


# --- acting ---------------------------------------------------------------------------------


def _step(session: ScopedSession, request: RightsRequest, actor: Actor | None, action: str,
          note: str) -> None:  # fmt: skip
    session.add(
        RightsRequestStep(
            request_id=request.id,
            actor_id=actor.user_id if actor else None,
            action=action,
            note=note,
            at=clock.now(),
        )
    )


def _lock(session: ScopedSession, request_id: object) -> RightsRequest:
    """The request, locked for this transaction (row lock on PostgreSQL)."""
    serialize_on(session, f"rights:{request_id}")
    return _find(session, request_id, lock=True)


def _audit(actor: Actor | None, action: str, request: RightsRequest, **details: object) -> None:
    audit.record(
        actor, action, platform=True, target_type="rightsrequest", target_id=request.id,
        details={"reference": request.reference, **details},
    )  # fmt: skip


def forward(actor: Actor, request_id: object) -> int:
    """Send a verified request to each matched clinic not yet sent it; returns how many now."""
    check(actor, Permission.RIGHTS_FORWARD)
    with platform_session() as session:
        request = _find(session, request_id)
        if request.status != S.PENDING:
            raise RightsProblem("Only a verified request waiting to be forwarded can be sent on.")
        if not request.matched_clinics:
            raise RightsProblem("No clinic holds data for this request: close it instead.")
        session.expunge(request)
    now, made = clock.now(), {}
    for clinic in request.matched_clinics:
        tenant_id = uuid.UUID(clinic)
        forward_id = _forward_to(actor, request, tenant_id, now)
        if forward_id is not None:
            made[clinic] = forward_id
    with platform_session() as session:
        locked = _lock(session, request.id)
        statuses = dict(locked.clinic_status)
        for clinic in locked.matched_clinics:
            statuses.setdefault(clinic, F.FORWARDED.value)
        locked.clinic_status = statuses
        if locked.status == S.PENDING:
            locked.status = S.FORWARDED.value
        count = len(locked.matched_clinics)
        _step(session, locked, actor, "forwarded",
              f"Forwarded to {count} clinic{'s' if count != 1 else ''}.")  # fmt: skip
        session.add(locked)
        session.commit()
        session.refresh(locked)
        request = locked
    _audit(actor, "rights.forwarded", request, clinics=sorted(made))
    for clinic, forward_id in made.items():
        audit.record(
            actor, "rights.forwarded", tenant_id=uuid.UUID(clinic),
            target_type="rightsrequestforward", target_id=forward_id,
            details={"reference": request.reference, "kind": request.kind},
        )  # fmt: skip
    return len(made)


def _forward_to(
    actor: Actor, request: RightsRequest, tenant_id: uuid.UUID, now: datetime
) -> uuid.UUID | None:
    """The clinic's own copy, written in its own session; None when it already has one."""
    with tenant_session(tenant_id) as session:
        exists = session.exec(
            select(RightsRequestForward.id).where(
                RightsRequestForward.rights_request_id == request.id
            )
        ).first()
        if exists is not None:
            return None
        row = RightsRequestForward(
            rights_request_id=request.id,
            forwarded_by_id=actor.user_id,
            forwarded_at=now,
            reference=request.reference,
            kind=request.kind,
            requester_name=request.requester_name,
            requester_email=request.requester_email,
            requester_phone=request.requester_phone,
            details=request.details,
            by_agent=request.by_agent,
            agent_name=request.agent_name,
            agent_email=request.agent_email,
            jurisdiction=request.jurisdiction,
            received_at=request.received_at,
            due_on=request.due_on,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # forwarded at the same moment by another click
            session.rollback()
            return None
        return row.id


def _close(
    session: ScopedSession, request: RightsRequest, status: S, outcome: str, note: str
) -> None:
    request.status, request.outcome, request.outcome_note = status.value, outcome, note
    request.closed_at = clock.now()
    session.add(request)


def close_no_data(actor: Actor, request_id: object) -> None:
    """Close a verified request no clinic holds data for, and tell the requester."""
    check(actor, Permission.RIGHTS_FORWARD)
    with platform_session() as session:
        request = _lock(session, request_id)
        if request.status != S.PENDING:
            raise RightsProblem("Only a verified request not yet forwarded can be closed here.")
        if request.matched_clinics:
            raise RightsProblem("Clinics hold data for this request: forward it to them.")
        note = "No clinic using this platform holds personal data about you."
        _close(session, request, S.COMPLETED, "no_data", note)
        _step(session, request, actor, "closed_no_data", "Closed: no data held.")
        _tell_requester(
            session, request,
            "We have checked your request. No clinic using our platform holds personal data "
            "under the email address or phone number you gave, so there is nothing to send, "
            "delete or change. Your request is closed.",
        )  # fmt: skip
        session.commit()
        session.refresh(request)
    _audit(actor, "rights.closed_no_data", request)


def extend(actor: Actor, request_id: object, reason: object) -> date:
    """Extend the deadline once, as the jurisdiction allows, telling the requester why."""
    check(actor, Permission.RIGHTS_FORWARD)
    text = clean_reason(reason, "reason for the extension")
    with platform_session() as session:
        request = _lock(session, request_id)
        if request.status not in {s.value for s in OPEN}:
            raise RightsProblem("Only an open request can be extended.")
        if request.extended_at is not None:
            raise RightsProblem("This request has been extended already; the law allows once.")
        if request.due_on is None:
            raise RightsProblem("This request has no deadline to extend.")
        old = request.due_on
        new = rights_deadlines.extended(old, request.jurisdiction)
        request.due_on, request.extended_at, request.extension_reason = new, clock.now(), text
        session.add(request)
        _step(session, request, actor, "extended", f"Deadline {old} → {new}: {text}")
        _tell_requester(
            session, request,
            f"We need more time to answer your request. The new date for our answer is "
            f"{new.isoformat()}.\n\nWhy: {text}",
        )  # fmt: skip
        session.commit()
        session.refresh(request)
        clinics = [uuid.UUID(c) for c in request.clinic_status]
    for tenant_id in clinics:
        with tenant_session(tenant_id) as clinic:
            for row in clinic.exec(
                select(RightsRequestForward).where(
                    RightsRequestForward.rights_request_id == request.id
                )
            ):
                row.due_on = new
                clinic.add(row)
            clinic.commit()
    _audit(actor, "rights.extended", request, reason=text, old=old.isoformat(),
           new=new.isoformat())  # fmt: skip
    return new


def withdraw(actor: Actor, request_id: object, note: object) -> None:
    """The requester asked (by email) to withdraw: close it here and in every clinic."""
    _end(actor, request_id, note, S.WITHDRAWN, "withdrawn", "note")


def deny(actor: Actor, request_id: object, reason: object) -> None:
    """Refuse the request at platform level (e.g. the agent's authorisation is not valid)."""
    _end(actor, request_id, reason, S.DENIED, "denied", "reason")


def _end(actor: Actor, request_id: object, note: object, status: S, outcome: str,
         what: str) -> None:  # fmt: skip
    check(actor, Permission.RIGHTS_FORWARD)
    text = clean_reason(note, what)
    with platform_session() as session:
        request = _lock(session, request_id)
        if request.status not in {s.value for s in OPEN}:
            raise RightsProblem("This request is closed already.")
        _close(session, request, status, outcome, text)
        # The clinics' copies still open are closed with it (below, in each clinic).
        ended = F.DENIED.value if status == S.DENIED else F.COMPLETED.value
        request.clinic_status = {
            c: (v if v in ANSWERED else ended) for c, v in request.clinic_status.items()
        }
        _step(session, request, actor, outcome, text)
        told = (
            "As you asked, your request has been withdrawn and is closed."
            if status == S.WITHDRAWN
            else f"We cannot act on your request.\n\nWhy: {text}"
        )
        _tell_requester(session, request, told)
        session.commit()
        session.refresh(request)
        clinics = [uuid.UUID(c) for c in request.clinic_status]
    # The clinics stop working on it: their open copies are closed with the same words.
    for tenant_id in clinics:
        _close_forward(actor, request.id, tenant_id, status, text)
    _audit(actor, f"rights.{outcome}", request, note=text)


def _close_forward(actor: Actor, request_id: uuid.UUID, tenant_id: uuid.UUID, status: S,
                   text: str) -> None:  # fmt: skip
    with tenant_session(tenant_id) as session:
        row = session.exec(
            select(RightsRequestForward).where(RightsRequestForward.rights_request_id == request_id)
        ).first()
        if row is None or row.status in ANSWERED:
            return
        row.status = F.DENIED.value if status == S.DENIED else F.COMPLETED.value
        row.responded_at, row.responded_by_id = clock.now(), actor.user_id
        word = "Denied by the platform" if status == S.DENIED else "Withdrawn by the requester"
        row.response_note = f"{word}: {text}"
        row.result = {**row.result, "closed_by_platform": status.value}
        session.add(row)
        session.commit()
        forward_id = row.id
    audit.record(
        actor, f"rights.forward_{status.value}", tenant_id=tenant_id,
        target_type="rightsrequestforward", target_id=forward_id,
    )  # fmt: skip


_answer_locks: dict[str, threading.Lock] = {}
_answer_guard = threading.Lock()


def _answer_lock(request_id: uuid.UUID) -> threading.Lock:
    # SQLite has no row locks: answers to one request queue up in-process (PostgreSQL also
    # queues them on the row lock, across processes).
    with _answer_guard:
        return _answer_locks.setdefault(str(request_id), threading.Lock())


def record_clinic_answer(
    request_id: uuid.UUID, tenant_id: uuid.UUID, status: str, *, actor: Actor | None = None
) -> str:
    """Mirror one clinic's progress onto the platform's request; returns the request's status.

    When every forwarded clinic has answered, the request closes (denied only if all denied)
    and the requester gets the platform's closing notice.
    """
    clinic = str(tenant_id)
    with _answer_lock(request_id), platform_session() as session:
        request = _lock(session, request_id)
        if clinic not in request.clinic_status:
            raise NotFound("rights request")
        statuses = {**request.clinic_status, clinic: status}
        request.clinic_status = statuses
        name = session.get(Tenant, tenant_id)
        label = CLINIC_STATUS_LABELS.get(status, status).lower()
        who = name.name if name else "A clinic"
        if status == F.IN_PROGRESS:
            if request.status == S.FORWARDED:
                request.status = S.IN_PROGRESS.value
            _step(session, request, actor, "clinic_started", f"{who} started work.")
        else:
            _step(session, request, actor, "clinic_answered", f"{who} answered: {label}.")
        closes = request.status in (S.FORWARDED, S.IN_PROGRESS) and all(
            statuses.get(c) in ANSWERED for c in statuses
        )
        if closes:
            all_denied = all(statuses[c] == F.DENIED for c in statuses)
            if all_denied:
                _close(session, request, S.DENIED, "denied", "Every clinic declined.")
            else:
                _close(session, request, S.COMPLETED, "answered", "Every clinic answered.")
            _step(session, request, None, "closed", "Every clinic has answered; closed.")
            _tell_requester(
                session, request,
                "Every organisation that held data about you has now answered your request; "
                "you have received their answers separately. Your request is closed.",
            )  # fmt: skip
        session.add(request)
        session.commit()
        session.refresh(request)
        final = request.status
    _audit(actor, "rights.clinic_answered", request, clinic=clinic, status=status,
           closed=closes)  # fmt: skip
    return final


# The clinic's side, re-exported so callers can use ``rights.finish`` and friends.
from mi_portal.services.rights_clinic import ForwardDetail as ForwardDetail  # noqa: E402
from mi_portal.services.rights_clinic import ForwardRow as ForwardRow  # noqa: E402
from mi_portal.services.rights_clinic import correct as correct  # noqa: E402
from mi_portal.services.rights_clinic import deny_forward as deny_forward  # noqa: E402
from mi_portal.services.rights_clinic import finish as finish  # noqa: E402
from mi_portal.services.rights_clinic import forward_detail as forward_detail  # noqa: E402
from mi_portal.services.rights_clinic import forwarded_list as forwarded_list  # noqa: E402
from mi_portal.services.rights_clinic import limit as limit  # noqa: E402
from mi_portal.services.rights_clinic import opt_out as opt_out  # noqa: E402
from mi_portal.services.rights_clinic import start as start  # noqa: E402
