"""Privacy-rights requests: what the platform's work list and its actions share (labels,
statuses, reasons, finding and locking a request, its timeline, telling the requester)."""

from __future__ import annotations

import uuid

from sqlmodel import select

from mi_portal.db import ScopedSession, serialize_on
from mi_portal.models import ForwardStatus as F
from mi_portal.models import (
    MessageChannel,
    RightsRequest,
    RightsRequestStatus,
    RightsRequestStep,
)
from mi_portal.models import RightsRequestKind as K
from mi_portal.services import audit, clock, outbox
from mi_portal.services.actor import Actor, NotFound
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


def recipients(request: RightsRequest) -> list[str]:
    found = [request.requester_email]
    if request.by_agent and request.agent_email and request.agent_email != request.requester_email:
        found.append(request.agent_email)
    return [r for r in found if r]


def tell_requester(session: ScopedSession, request: RightsRequest, text: str) -> None:
    subject = f"Your privacy request {request.reference}"
    body = f"Hello,\n\n{text}\n\nReference: {request.reference}\n"
    for recipient in recipients(request):
        outbox.enqueue_platform(
            session, channel=MessageChannel.EMAIL.value, recipient=recipient, body=body,
            subject=subject,
        )  # fmt: skip


def find_request(session: ScopedSession, key: object, *, lock: bool = False) -> RightsRequest:
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


def add_step(session: ScopedSession, request: RightsRequest, actor: Actor | None, action: str,
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


def lock_request(session: ScopedSession, request_id: object) -> RightsRequest:
    """The request, locked for this transaction (row lock on PostgreSQL)."""
    serialize_on(session, f"rights:{request_id}")
    return find_request(session, request_id, lock=True)


def audit_request(
    actor: Actor | None, action: str, request: RightsRequest, **details: object
) -> None:
    audit.record(
        actor, action, platform=True, target_type="rightsrequest", target_id=request.id,
        details={"reference": request.reference, **details},
    )  # fmt: skip
