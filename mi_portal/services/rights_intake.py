"""The public side of privacy-rights requests: the form, the emailed code, the expiry of requests
nobody confirmed.

A request is stored unverified and a one-time code goes to the patient's own email (an agent's
request too: the patient confirms it). Only after the code is right does the platform look up
which clinics hold data, so every answer before that is the same for everyone. The code is kept
only as a keyed digest; nothing personal goes into logs, errors or the audit details.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import col, select

from mi_portal.config import get_settings
from mi_portal.db import ScopedSession, platform_session
from mi_portal.models import (
    RightsRequest,
    RightsRequestKind,
    RightsRequestStatus,
    RightsRequestStep,
)
from mi_portal.services import (
    audit,
    clock,
    outbox,
    ratelimit,
    rights_deadlines,
    rights_locator,
)
from mi_portal.services.phones import InvalidPhone, to_e164
from mi_portal.services.rights_files import check_authorisation
from mi_portal.services.text import TextTooLong, clean_email, clean_text
from mi_portal.storage import get_store

log = logging.getLogger(__name__)

CODE_LIFETIME = timedelta(minutes=10)
MAX_WRONG_CODES = 5
MAX_CODES = 5
UNVERIFIED_KEPT = timedelta(days=30)
AUTHORISATION_PREFIX = "platform/rights/"

KIND_LABELS: dict[str, tuple[str, str]] = {
    RightsRequestKind.ACCESS: (
        "Know or get a copy of my data",
        "What data is held about you, where it came from, why and with whom it is shared.",
    ),
    RightsRequestKind.DELETION: (
        "Delete my data",
        "Erase what is held about you, except what the law requires a clinic to keep.",
    ),
    RightsRequestKind.CORRECTION: (
        "Correct my data",
        "Fix details that are wrong or incomplete; say which ones below.",
    ),
    RightsRequestKind.OPT_OUT: (
        "Opt out of sale or sharing",
        "Stop your data being sold or shared for advertising.",
    ),
    RightsRequestKind.LIMIT: (
        "Limit use of sensitive data",
        "Allow your health data to be used only to provide the service you asked for.",
    ),
}


class Invalid(ValueError):
    """What was typed needs correcting; ``errors`` maps field → message (no typed values)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class RateLimited(RuntimeError):
    """Too many tries from this connection or against this request; the message says when."""


@dataclass(frozen=True)
class RequestForm:
    kind: str = ""
    by_agent: bool = False
    requester_name: str = ""
    requester_email: str = ""
    requester_phone: str = ""
    jurisdiction: str = ""
    details: str = ""
    agent_name: str = ""
    agent_email: str = ""


def _text(errors: dict[str, str], field: str, value: object, limit: int, **kw: bool) -> str:
    try:
        return clean_text(value, max_length=limit, **kw)
    except TextTooLong as exc:
        errors[field] = str(exc)
        return ""


def _email(errors: dict[str, str], field: str, value: object, empty: str) -> str:
    if not str(value or "").strip():
        errors[field] = empty
        return ""
    try:
        return clean_email(value)
    except ValueError as exc:
        errors[field] = str(exc)
        return ""


def clean_request(form: RequestForm) -> RequestForm:
    """The form normalised, or ``Invalid`` listing every field to correct."""
    errors: dict[str, str] = {}
    kind = form.kind if isinstance(form.kind, str) else ""
    if kind not in KIND_LABELS:
        errors["kind"] = "Choose what you are asking for."
    name = _text(errors, "requester_name", form.requester_name, 200)
    if not name and "requester_name" not in errors:
        errors["requester_name"] = "Enter the patient's full name."
    email = _email(errors, "requester_email", form.requester_email, "Enter the patient's email.")
    phone = ""
    if str(form.requester_phone or "").strip():
        try:
            phone = to_e164(form.requester_phone)
        except InvalidPhone as exc:
            errors["requester_phone"] = str(exc)
    jurisdiction = form.jurisdiction if isinstance(form.jurisdiction, str) else ""
    if jurisdiction not in {code for code, _ in rights_deadlines.JURISDICTIONS}:
        errors["jurisdiction"] = "Choose where the patient lives."
    details = _text(errors, "details", form.details, 4000, multiline=True)
    by_agent = form.by_agent is True
    agent_name = agent_email = ""
    if by_agent:
        agent_name = _text(errors, "agent_name", form.agent_name, 200)
        if not agent_name and "agent_name" not in errors:
            errors["agent_name"] = "Enter your name as the agent."
        agent_email = _email(errors, "agent_email", form.agent_email, "Enter your email.")
    if errors:
        raise Invalid(errors)
    return RequestForm(
        kind=kind,
        by_agent=by_agent,
        requester_name=name,
        requester_email=email,
        requester_phone=phone,
        jurisdiction=jurisdiction,
        details=details,
        agent_name=agent_name,
        agent_email=agent_email,
    )


# ---- codes -----------------------------------------------------------------------------------


def _code_digest(request_id: uuid.UUID, code: str) -> str:
    key = ("rights-code:" + get_settings().secret_key).encode()
    return hmac.new(key, f"{request_id}\n{code}".encode(), hashlib.sha256).hexdigest()


def _new_code(session: ScopedSession, request: RightsRequest, now: datetime) -> None:
    """A fresh code for ``request`` (any earlier one dies), emailed to the patient."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    request.code_digest = _code_digest(request.id, code)
    request.code_expires_at = now + CODE_LIFETIME
    request.code_attempts = 0
    request.codes_sent += 1
    session.add(request)
    who = (
        "An authorised agent made a privacy request on your behalf"
        if request.by_agent
        else "You made a privacy request"
    )
    outbox.enqueue_platform(
        session,
        channel="email",
        recipient=request.requester_email,
        subject=f"Your confirmation code for request {request.reference}",
        body=(
            f"{who} (reference {request.reference}).\n\n"
            f"To confirm it, enter this code on the request page: {code}\n\n"
            "The code works for 10 minutes. If you did not expect this email, ignore it: "
            "nothing happens without the code, and the request lapses after 30 days."
        ),
    )
    _step(session, request.id, "code_sent", f"Confirmation code {request.codes_sent} sent.")


def _step(session: ScopedSession, request_id: uuid.UUID, action: str, note: str) -> None:
    session.add(RightsRequestStep(request_id=request_id, action=action, note=note))


def _audit(
    action: str, request_id: uuid.UUID, ip: str | None = None, ua: str | None = None
) -> None:
    audit.record(
        None,
        action,
        platform=True,
        target_type="rights_request",
        target_id=request_id,
        ip=ip,
        user_agent=ua,
    )


def _limit(checks: list[tuple[ratelimit.Limit, str]], what: str) -> None:
    wait = ratelimit.hit_all(checks)
    if wait:
        raise RateLimited(ratelimit.try_again_message(wait, what=what))


# ---- submitting ------------------------------------------------------------------------------


def submit(
    form: RequestForm,
    *,
    authorisation: tuple[bytes, str] | None,
    ip: str | None,
    user_agent: str | None,
) -> str:
    """Store an unverified request and email the patient a code; its reference.

    ``authorisation`` is an agent's signed authorisation (bytes, file name). Raises ``Invalid``
    or ``RateLimited``; the answer is the same whoever the patient is.
    """
    errors: dict[str, str] = {}
    try:
        form = clean_request(form)
    except Invalid as exc:
        errors.update(exc.errors)
    stored: tuple[bytes, str] | None = None
    if form.by_agent is True:
        if authorisation is None or not authorisation[0]:
            errors["authorisation"] = "Upload the patient's signed authorisation."
        else:
            try:
                stored = check_authorisation(authorisation[0])
            except ValueError as exc:
                errors["authorisation"] = str(exc)
    if errors:
        raise Invalid(errors)
    _limit([(ratelimit.RIGHTS_SUBMIT_PER_ADDRESS, ip or "unknown")], "requests")
    now = clock.now()
    request = RightsRequest(
        kind=form.kind,
        requester_name=form.requester_name,
        requester_email=form.requester_email,
        requester_phone=form.requester_phone or None,
        details=form.details,
        by_agent=form.by_agent,
        agent_name=form.agent_name,
        agent_email=form.agent_email,
        jurisdiction=form.jurisdiction,
        regime=rights_deadlines.regime_for(form.jurisdiction),
        received_at=now,
    )
    store = get_store()
    if stored is not None:
        data, content_type = stored
        request.authorisation_key = f"{AUTHORISATION_PREFIX}{request.id}/authorisation"
        request.authorisation_type = content_type
        store.put(request.authorisation_key, data, content_type=content_type)
    try:
        with platform_session() as session:
            session.add(request)
            _step(session, request.id, "received", "Request received through the public form.")
            _new_code(session, request, now)
            session.commit()
            reference = request.reference
    except Exception:
        if request.authorisation_key:
            store.purge(request.authorisation_key)
        raise
    _audit("rights.submitted", request.id, ip, user_agent)
    return reference


# ---- verifying -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyOutcome:
    """What the verify page shows: ``state`` is one of
    waiting, verified, wrong, locked, expired, exhausted, sent, limited, closed."""

    state: str
    message: str
    reference: str = ""
    due_on: date | None = None
    attempts_left: int = 0


_REFERENCE = re.compile(r"^RR-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")
CLOSED = "There is no open request with this reference. You can make a new request."
NEW_CODE = "This code can no longer be used. Request a new code."


def clean_reference(value: object) -> str:
    """``RR-XXXX-XXXX`` upper-cased, or "" when it cannot be a reference."""
    text = str(value or "").strip().upper()[:20]
    return text if _REFERENCE.match(text) else ""


def _verified(request: RightsRequest) -> VerifyOutcome:
    if request.closed_at is not None:
        return VerifyOutcome(
            "verified",
            f"Verified. Your request {request.reference} has been answered; the answers were "
            "sent to your email.",
            request.reference,
        )
    when = f" by {request.due_on:%d %B %Y}" if request.due_on else " soon"
    return VerifyOutcome(
        "verified",
        f"Verified. Your reference is {request.reference}; you will hear from us{when}.",
        request.reference,
        request.due_on,
    )


def _find(session: ScopedSession, reference: str, *, lock: bool) -> RightsRequest | None:
    if not reference:
        return None
    query = select(RightsRequest).where(col(RightsRequest.reference) == reference)
    if lock:
        query = query.with_for_update()  # one code check at a time per request (PostgreSQL)
    return session.exec(query).first()


def _open(request: RightsRequest | None) -> bool:
    return request is not None and request.status not in (
        RightsRequestStatus.EXPIRED.value,
        RightsRequestStatus.WITHDRAWN.value,
    )


def lookup(reference: object) -> VerifyOutcome:
    """Where a request stands, for the verify page (nothing personal)."""
    ref = clean_reference(reference)
    with platform_session() as session:
        request = _find(session, ref, lock=False)
        if request is None or not _open(request):
            return VerifyOutcome("closed", CLOSED, ref)
        if request.status != RightsRequestStatus.UNVERIFIED.value:
            return _verified(request)
        return VerifyOutcome("waiting", "", ref, attempts_left=_left(request))


def _left(request: RightsRequest) -> int:
    return 0 if request.code_digest is None else MAX_WRONG_CODES - request.code_attempts


def verify(reference: object, code: object, *, ip: str | None = None) -> VerifyOutcome:
    """Check the emailed code; on success the request is pending with its deadlines set."""
    ref = clean_reference(reference)
    try:
        _limit(
            [
                (ratelimit.RIGHTS_CODE_PER_ADDRESS, ip or "unknown"),
                (ratelimit.RIGHTS_CODE_PER_REQUEST, ref or "none"),
            ],
            "code checks",
        )
    except RateLimited as exc:
        return VerifyOutcome("limited", str(exc), ref)
    typed = re.sub(r"\s", "", str(code or ""))[:12]
    now = clock.now()
    with platform_session() as session:
        request = _find(session, ref, lock=True)
        if request is None or not _open(request):
            return VerifyOutcome("closed", CLOSED, ref)
        if request.status != RightsRequestStatus.UNVERIFIED.value:
            return _verified(request)
        if request.code_digest is None:
            return VerifyOutcome("locked", NEW_CODE, ref)
        if request.code_expires_at is None or request.code_expires_at <= now:
            return VerifyOutcome("expired", "This code has expired. Request a new code.", ref)
        given = _code_digest(request.id, typed)
        if not hmac.compare_digest(given, request.code_digest):
            request.code_attempts += 1
            if request.code_attempts >= MAX_WRONG_CODES:
                request.code_digest = None
            session.add(request)
            session.commit()
            left = _left(request)
            if not left:
                return VerifyOutcome(
                    "locked", "Too many wrong codes. Request a new code to try again.", ref
                )
            tries = "1 try" if left == 1 else f"{left} tries"
            return VerifyOutcome("wrong", f"That code is not right. {tries} left.", ref, None, left)
        _mark_verified(session, request, now)
        session.commit()
        outcome = _verified(request)
        request_id = request.id
    _audit("rights.verified", request_id, ip)
    return outcome


def _mark_verified(session: ScopedSession, request: RightsRequest, now: datetime) -> None:
    request.code_digest = None  # used: it can never be replayed
    request.code_expires_at = None
    request.status = RightsRequestStatus.PENDING.value
    request.verified_at = now
    request.verification_method = "email_code"
    due = rights_deadlines.deadlines(request.received_at, request.jurisdiction)
    request.acknowledge_by, request.due_on = due.acknowledge_by, due.due_on
    request.regime = rights_deadlines.regime_for(request.jurisdiction)
    # Only now, with the patient's email proven theirs, does the platform look anyone up, and
    # by that email alone: the phone they typed is not proven theirs.
    holding = rights_locator.clinics_holding(request.requester_email, None)
    request.matched_clinics = [str(clinic) for clinic in holding]
    session.add(request)
    _step(session, request.id, "verified", "Identity confirmed by an emailed code.")
    outbox.enqueue_platform(
        session,
        channel="email",
        recipient=request.requester_email,
        subject=f"We received your privacy request {request.reference}",
        body=(
            f"Thank you: your privacy request {request.reference} is confirmed.\n\n"
            "What happens next: we pass it to every clinic that uses our service and holds "
            "data about you, and each one answers it. If none does, we tell you that.\n\n"
            f"You will hear from us by {request.due_on:%d %B %Y}. Please quote your "
            "reference if you write to us about this request."
        ),
    )
    _step(session, request.id, "acknowledged", "Acknowledgement sent to the requester.")


def resend_code(reference: object, *, ip: str | None = None) -> VerifyOutcome:
    """A fresh code by email (the old one dies, the wrong tries start again)."""
    ref = clean_reference(reference)
    try:
        _limit(
            [
                (ratelimit.RIGHTS_RESEND_PER_ADDRESS, ip or "unknown"),
                (ratelimit.RIGHTS_RESEND_PER_REQUEST, ref or "none"),
            ],
            "requests for a code",
        )
    except RateLimited as exc:
        return VerifyOutcome("limited", str(exc), ref)
    with platform_session() as session:
        request = _find(session, ref, lock=True)
        if request is None or not _open(request):
            return VerifyOutcome("closed", CLOSED, ref)
        if request.status != RightsRequestStatus.UNVERIFIED.value:
            return _verified(request)
        if request.codes_sent >= MAX_CODES:
            return VerifyOutcome(
                "exhausted",
                "No more codes can be sent for this request. Please make a new request.",
                ref,
            )
        _new_code(session, request, clock.now())
        session.commit()
        request_id = request.id
    _audit("rights.code_resent", request_id, ip)
    return VerifyOutcome(
        "sent",
        "A new code is on its way. Earlier codes no longer work.",
        ref,
        None,
        MAX_WRONG_CODES,
    )


# ---- expiry ----------------------------------------------------------------------------------

_EMPTIED = {
    "requester_name": "",
    "requester_email": "",
    "requester_phone": None,
    "details": "",
    "agent_name": "",
    "agent_email": "",
    "authorisation_key": None,
    "code_digest": None,
    "code_expires_at": None,
}


def expire_unverified(now: datetime | None = None) -> int:
    """Requests nobody confirmed within 30 days: personal fields emptied, the authorisation
    deleted, status expired. Returns how many."""
    now = now or clock.now()
    store = get_store()
    with platform_session() as session:
        due = session.exec(
            select(RightsRequest).where(
                col(RightsRequest.status) == RightsRequestStatus.UNVERIFIED.value,
                col(RightsRequest.received_at) <= now - UNVERIFIED_KEPT,
            )
        ).all()
        done: list[uuid.UUID] = []
        for request in due:
            # The object first: should the commit fail, the next run finds the row again.
            if request.authorisation_key:
                store.purge(request.authorisation_key)
            for name, value in _EMPTIED.items():
                setattr(request, name, value)
            request.status = RightsRequestStatus.EXPIRED.value
            request.outcome = "expired"
            request.closed_at = now
            session.add(request)
            _step(session, request.id, "expired", "Not confirmed within 30 days; details erased.")
            done.append(request.id)
        session.commit()
    for request_id in done:
        _audit("rights.expired", request_id)
    if done:
        log.info("expired %d unverified rights requests", len(done))
    return len(done)
