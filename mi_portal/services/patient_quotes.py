"""The patient's quote page (``/q/<token>``): one version, read, accepted or declined.

The token is signed and expiring and names one clinic and one quote version; the page shows that
version and nothing else (no other quote, case or clinic). The first open records ``viewed``.
Accepting needs the patient's full name typed as it is on the case, and stores the name, the
time, the IP address, the browser and the SHA-256 of the version's canonical content, which must
still equal the digest taken when the version was sent. A version that was replaced, withdrawn
or has expired says so, and a replaced one links to the version now open.
"""

from __future__ import annotations

import hmac
import unicodedata
import uuid
from dataclasses import dataclass

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import (
    OPEN_QUOTE_STATUSES,
    Patient,
    Quote,
    QuoteStatus,
    Submission,
    SubmissionStatus,
    Tenant,
)
from mi_portal.services import audit, clock, quotes
from mi_portal.services.actor import NotFound
from mi_portal.services.clinic_brand import Brand, brand_of
from mi_portal.services.text import TextTooLong, clean_text

MAX_NAME = 200
MAX_REASON = 1_000


class LinkInvalid(Exception):
    """The link is altered, expired or unknown (the page says no more than that)."""


class ClinicUnavailable(LinkInvalid):
    """A genuine link of a clinic that is suspended or closed: the page says it is not available."""


class AnswerProblem(ValueError):
    """The answer cannot be taken as it is; the sentence says what to change."""


@dataclass(frozen=True)
class PatientQuote:
    document: quotes.QuoteDocument
    answerable: bool
    # Why it cannot be answered ("" when it can), and the link to the open version if newer.
    notice: str
    current_link: str
    patient_first_name: str
    brand: Brand = Brand()


def _open(session: ScopedSession, token: object) -> tuple[Tenant, Quote, Submission]:
    found = quotes.open_link(token)
    if found is None:
        raise LinkInvalid
    return _open_version(session, *found)


def _open_version(
    session: ScopedSession, tenant_id: uuid.UUID, quote_id: uuid.UUID
) -> tuple[Tenant, Quote, Submission]:
    """The clinic, the version and its case, the case locked until commit (the lock every
    change of the case's quotes takes: an answer, a new version and a withdrawal never mix)."""
    if session.tenant_id != tenant_id:
        raise LinkInvalid
    tenant = session.get(Tenant, tenant_id)
    quote = session.get(Quote, (tenant_id, quote_id))
    if tenant is None or quote is None:
        raise LinkInvalid
    if not tenant.active:
        raise ClinicUnavailable
    try:
        case = quotes.lock_case(session, tenant_id, quote.submission_id)
    except NotFound:
        raise LinkInvalid from None
    session.refresh(quote)
    if quote.status == QuoteStatus.DRAFT.value:
        raise LinkInvalid  # a draft is never the patient's to see
    return tenant, quote, case


def _tenant_of(token: object) -> uuid.UUID:
    found = quotes.open_link(token)
    if found is None:
        raise LinkInvalid
    return found[0]


def _newer_open(session: ScopedSession, quote: Quote) -> Quote | None:
    for other in reversed(quotes._versions(session, quote.submission_id)):  # noqa: SLF001
        if other.version > quote.version and other.status in OPEN_QUOTE_STATUSES | {
            QuoteStatus.ACCEPTED,
            QuoteStatus.DECLINED,
        }:
            return other
    return None


NOTICES = {
    QuoteStatus.SUPERSEDED.value: "This quote was replaced by a newer version.",
    QuoteStatus.EXPIRED.value: "This quote has expired. Ask the clinic for a new one.",
    QuoteStatus.WITHDRAWN.value: "The clinic withdrew this quote.",
    QuoteStatus.ACCEPTED.value: "You accepted this quote.",
    QuoteStatus.DECLINED.value: "You declined this quote.",
}


def _expire(session: ScopedSession, quote: Quote) -> bool:
    expired = quotes.expire_in_session(session, [quote], clock.now())
    return bool(expired)


def view(token: object, *, ip: str | None = None, user_agent: str | None = None) -> PatientQuote:
    """The version behind the link; the first open records ``viewed``."""
    found = quotes.open_link(token)
    if found is None:
        raise LinkInvalid
    return view_version(*found, ip=ip, user_agent=user_agent)


def view_version(
    tenant_id: uuid.UUID,
    quote_id: uuid.UUID,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
) -> PatientQuote:
    """One version, for a caller that verified a link naming it (the page's, the PDF's)."""
    first_view = expired = False
    with tenant_session(tenant_id) as session:
        tenant, quote, case = _open_version(session, tenant_id, quote_id)
        expired = _expire(session, quote)
        if quote.status == QuoteStatus.SENT.value:
            quote.status = QuoteStatus.VIEWED.value
            quote.viewed_at = clock.now()
            session.add(quote)
            first_view = True
        session.commit()
        newer = _newer_open(session, quote) if quote.status not in OPEN_QUOTE_STATUSES else None
        notice = NOTICES.get(quote.status, "")
        if newer is not None:
            notice = "This quote was replaced by a newer version."
        patient = session.get(Patient, (tenant_id, case.patient_id))
        result = PatientQuote(
            document=quotes._document(session, quote, tenant.name),  # noqa: SLF001
            answerable=quote.status in OPEN_QUOTE_STATUSES,
            notice=notice,
            current_link=quotes.patient_link(tenant_id, newer.id) if newer else "",
            patient_first_name=(patient.full_name.split() or [""])[0] if patient else "",
            brand=brand_of(tenant),
        )
        facts = {"quote": str(quote.id), "version": quote.version}
        case_id = case.id
    if expired:
        quotes._audit_expired(tenant_id, [(uuid.UUID(facts["quote"]), case_id, quote.version)])  # noqa: SLF001
    if first_view:
        audit.record(
            None, "quote.viewed", tenant_id=tenant_id, target_type="submission",
            target_id=case_id, ip=ip, user_agent=user_agent, details=facts,
        )  # fmt: skip
    return result


def _same_name(typed: str, on_file: str) -> bool:
    def fold(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).casefold()
        return " ".join(text.split())

    return hmac.compare_digest(fold(typed).encode(), fold(on_file).encode())


def _answerable(session: ScopedSession, quote: Quote, case: Submission) -> None:
    _expire(session, quote)
    if quote.status not in OPEN_QUOTE_STATUSES:
        session.commit()
        raise AnswerProblem(NOTICES.get(quote.status, "This quote can no longer be answered."))
    if case.status != SubmissionStatus.QUOTED.value:
        raise AnswerProblem("The clinic is not taking answers to this quote; please contact them.")


def accept(
    token: object, full_name: object, *, ip: str | None = None, user_agent: str | None = None
) -> None:
    """Accept the version: the typed full name must match the name on the case."""
    tenant_id = _tenant_of(token)
    try:
        name = clean_text(full_name, max_length=MAX_NAME)
    except TextTooLong:
        raise AnswerProblem("Type your full name as you gave it to the clinic.") from None
    if not name:
        raise AnswerProblem("Type your full name to accept.")
    with tenant_session(tenant_id) as session:
        _tenant, quote, case = _open(session, token)
        _answerable(session, quote, case)
        patient = session.get(Patient, (tenant_id, case.patient_id))
        if patient is None or not _same_name(name, patient.full_name):
            raise AnswerProblem("Type your full name exactly as you gave it to the clinic.")
        digest = quotes.content_hash(session, quote)
        if quote.content_sha256 is None or not hmac.compare_digest(digest, quote.content_sha256):
            raise AnswerProblem("This quote cannot be accepted online; please contact the clinic.")
        quote.status = QuoteStatus.ACCEPTED.value
        quote.closed_at = clock.now()
        quote.accepted_name = name
        quote.accepted_ip = (ip or "")[:64] or None
        quote.accepted_user_agent = (user_agent or "")[:400] or None
        session.add(quote)
        moves = quotes.follow_case(session, case, SubmissionStatus.ACCEPTED.value)
        session.commit()
        facts = {"quote": str(quote.id), "version": quote.version, "sha256": digest}
        case_id = case.id
    audit.record(
        None, "quote.accepted", tenant_id=tenant_id, target_type="submission",
        target_id=case_id, ip=ip, user_agent=user_agent, details=facts,
    )  # fmt: skip
    quotes.audit_moves(None, tenant_id, case_id, moves)


def decline(
    token: object, reason: object = "", *, ip: str | None = None, user_agent: str | None = None
) -> None:
    """Decline the version, with an optional reason for the clinic."""
    tenant_id = _tenant_of(token)
    try:
        text = clean_text(reason, max_length=MAX_REASON, multiline=True)
    except TextTooLong:
        raise AnswerProblem(f"Keep the reason under {MAX_REASON:,} characters.") from None
    with tenant_session(tenant_id) as session:
        _tenant, quote, case = _open(session, token)
        _answerable(session, quote, case)
        quote.status = QuoteStatus.DECLINED.value
        quote.closed_at = clock.now()
        quote.decline_reason = text or None
        session.add(quote)
        moves = quotes.follow_case(session, case, SubmissionStatus.DECLINED.value)
        session.commit()
        facts = {"quote": str(quote.id), "version": quote.version, "reason_given": bool(text)}
        case_id = case.id
    audit.record(
        None, "quote.declined", tenant_id=tenant_id, target_type="submission",
        target_id=case_id, ip=ip, user_agent=user_agent, details=facts,
    )  # fmt: skip
    quotes.audit_moves(None, tenant_id, case_id, moves)
