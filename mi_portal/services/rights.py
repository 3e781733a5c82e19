"""Privacy-rights requests on the platform: the work list, forwarding to the clinics that hold
data, and the platform's own closing steps (no data held, extension, withdrawal, denial).

The platform reads only its own ``RightsRequest`` rows; a clinic gets its own copy of a request
(``RightsRequestForward``) written in that clinic's session, and answers it there
(``rights_clinic``). Each clinic's answer comes back through ``record_clinic_answer``.
"""

from __future__ import annotations

import threading
import uuid
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import ForwardStatus as F
from mi_portal.models import (
    RightsRequest,
    RightsRequestForward,
    Tenant,
)
from mi_portal.services import audit, clock, rights_deadlines
from mi_portal.services.actor import Actor, NotFound
from mi_portal.services.permissions import Permission, check
from mi_portal.services.rights_common import (
    ANSWERED,
    CLINIC_STATUS_LABELS,
    OPEN,
    RightsProblem,
    S,
    add_step,
    audit_request,
    clean_reason,
    find_request,
    lock_request,
    tell_requester,
)

# What other modules use, from one place.
from mi_portal.services.rights_common import CLOSED as CLOSED
from mi_portal.services.rights_common import KIND_LABELS as KIND_LABELS
from mi_portal.services.rights_common import STATUS_FILTERS as STATUS_FILTERS
from mi_portal.services.rights_common import STATUS_LABELS as STATUS_LABELS
from mi_portal.services.rights_worklist import RequestDetail as RequestDetail
from mi_portal.services.rights_worklist import RequestRow as RequestRow
from mi_portal.services.rights_worklist import detail as detail
from mi_portal.services.rights_worklist import work_list as work_list


def forward(actor: Actor, request_id: object) -> int:
    """Send a verified request to each matched clinic not yet sent it; returns how many now."""
    check(actor, Permission.RIGHTS_FORWARD)
    with platform_session() as session:
        request = find_request(session, request_id)
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
        locked = lock_request(session, request.id)
        statuses = dict(locked.clinic_status)
        for clinic in locked.matched_clinics:
            statuses.setdefault(clinic, F.FORWARDED.value)
        locked.clinic_status = statuses
        if locked.status == S.PENDING:
            locked.status = S.FORWARDED.value
        count = len(locked.matched_clinics)
        add_step(session, locked, actor, "forwarded",
              f"Forwarded to {count} clinic{'s' if count != 1 else ''}.")  # fmt: skip
        session.add(locked)
        session.commit()
        session.refresh(locked)
        request = locked
    audit_request(actor, "rights.forwarded", request, clinics=sorted(made))
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
        request = lock_request(session, request_id)
        if request.status != S.PENDING:
            raise RightsProblem("Only a verified request not yet forwarded can be closed here.")
        if request.matched_clinics:
            raise RightsProblem("Clinics hold data for this request: forward it to them.")
        note = "No clinic using this platform holds personal data about you."
        _close(session, request, S.COMPLETED, "no_data", note)
        add_step(session, request, actor, "closed_no_data", "Closed: no data held.")
        tell_requester(
            session, request,
            "We have checked your request. No clinic using our platform holds personal data "
            "under the email address or phone number you gave, so there is nothing to send, "
            "delete or change. Your request is closed.",
        )  # fmt: skip
        session.commit()
        session.refresh(request)
    audit_request(actor, "rights.closed_no_data", request)


def extend(actor: Actor, request_id: object, reason: object) -> date:
    """Extend the deadline once, as the jurisdiction allows, telling the requester why."""
    check(actor, Permission.RIGHTS_FORWARD)
    text = clean_reason(reason, "reason for the extension")
    with platform_session() as session:
        request = lock_request(session, request_id)
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
        add_step(session, request, actor, "extended", f"Deadline {old} → {new}: {text}")
        tell_requester(
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
    audit_request(actor, "rights.extended", request, reason=text, old=old.isoformat(),
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
        request = lock_request(session, request_id)
        if request.status not in {s.value for s in OPEN}:
            raise RightsProblem("This request is closed already.")
        _close(session, request, status, outcome, text)
        # The clinics' copies still open are closed with it (below, in each clinic).
        ended = F.DENIED.value if status == S.DENIED else F.COMPLETED.value
        request.clinic_status = {
            c: (v if v in ANSWERED else ended) for c, v in request.clinic_status.items()
        }
        add_step(session, request, actor, outcome, text)
        told = (
            "As you asked, your request has been withdrawn and is closed."
            if status == S.WITHDRAWN
            else f"We cannot act on your request.\n\nWhy: {text}"
        )
        tell_requester(session, request, told)
        session.commit()
        session.refresh(request)
        clinics = [uuid.UUID(c) for c in request.clinic_status]
    # The clinics stop working on it: their open copies are closed with the same words.
    for tenant_id in clinics:
        _close_forward(actor, request.id, tenant_id, status, text)
    audit_request(actor, f"rights.{outcome}", request, note=text)


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
        request = lock_request(session, request_id)
        if clinic not in request.clinic_status:
            raise NotFound("rights request")
        if request.clinic_status[clinic] in ANSWERED:
            # An answer is final: a late "started" (another tab, a retry) never reopens it.
            session.rollback()
            return request.status
        statuses = {**request.clinic_status, clinic: status}
        request.clinic_status = statuses
        name = session.get(Tenant, tenant_id)
        label = CLINIC_STATUS_LABELS.get(status, status).lower()
        who = name.name if name else "A clinic"
        if status == F.IN_PROGRESS:
            if request.status == S.FORWARDED:
                request.status = S.IN_PROGRESS.value
            add_step(session, request, actor, "clinic_started", f"{who} started work.")
        else:
            add_step(session, request, actor, "clinic_answered", f"{who} answered: {label}.")
        closes = request.status in (S.FORWARDED, S.IN_PROGRESS) and all(
            statuses.get(c) in ANSWERED for c in statuses
        )
        if closes:
            all_denied = all(statuses[c] == F.DENIED for c in statuses)
            if all_denied:
                _close(session, request, S.DENIED, "denied", "Every clinic declined.")
            else:
                _close(session, request, S.COMPLETED, "answered", "Every clinic answered.")
            add_step(session, request, None, "closed", "Every clinic has answered; closed.")
            tell_requester(
                session, request,
                "Every organisation that held data about you has now answered your request; "
                "you have received their answers separately. Your request is closed.",
            )  # fmt: skip
        session.add(request)
        session.commit()
        session.refresh(request)
        final = request.status
    audit_request(actor, "rights.clinic_answered", request, clinic=clinic, status=status,
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
