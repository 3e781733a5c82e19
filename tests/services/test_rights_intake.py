"""Public rights requests: the form, the emailed code, verification, resends and expiry."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlmodel import col, select

from mi_portal.db import get_engine, platform_session, tenant_session
from mi_portal.models import (
    PLATFORM_CHAIN,
    AuditEvent,
    Patient,
    PlatformOutboxMessage,
    RightsRequest,
    RightsRequestStep,
    uuid7,
)
from mi_portal.services import ratelimit, rights_deadlines, rights_intake, rights_locator
from mi_portal.services.rights_intake import Invalid, RequestForm
from mi_portal.services.storage_check import check as storage_check
from mi_portal.storage import get_store
from tests.clocks import Clock
from tests.conftest import Database
from tests.factories import make_tenant

PATIENT = "ann.patient@example.org"


def form(**changes: object) -> RequestForm:
    values: dict[str, object] = {
        "kind": "access",
        "requester_name": "Ann Patient",
        "requester_email": PATIENT,
        "requester_phone": "",
        "jurisdiction": "US-CA",
        "details": "All my photos, please.",
    }
    values.update(changes)
    return RequestForm(**values)  # type: ignore[arg-type]


def submit(f: RequestForm | None = None, *, ip: str = "203.0.113.5", **kw: object) -> str:
    return rights_intake.submit(
        f or form(),
        authorisation=kw.get("authorisation"),  # type: ignore[arg-type]
        ip=ip,
        user_agent="test-browser",
    )


def request_of(reference: str) -> RightsRequest:
    with platform_session() as session:
        row = session.exec(
            select(RightsRequest).where(col(RightsRequest.reference) == reference)
        ).one()
        session.expunge(row)
    return row


def mails() -> list[PlatformOutboxMessage]:
    with platform_session() as session:
        rows = session.exec(
            select(PlatformOutboxMessage).order_by(col(PlatformOutboxMessage.created_at))
        ).all()
        for row in rows:
            session.expunge(row)
    return list(rows)


def last_code() -> str:
    match = re.search(r"\b(\d{6})\b", mails()[-1].body)
    assert match is not None
    return match.group(1)


def platform_events(action: str) -> list[AuditEvent]:
    with platform_session(platform=True) as session:
        return list(
            session.exec(
                select(AuditEvent).where(
                    col(AuditEvent.chain) == PLATFORM_CHAIN, col(AuditEvent.action) == action
                )
            )
        )


def holding_clinic(email: str) -> uuid.UUID:
    clinic = make_tenant(f"clinic-{uuid.uuid4().hex[:6]}")
    with tenant_session(clinic) as session:
        patient = Patient(id=uuid7(), full_name="Ann Patient", email=email)
        session.add(patient)
        session.flush()
        rights_locator.record_patient(session, patient)
        session.commit()
    return clinic


@pytest.fixture
def locator_queries() -> Iterator[list[str]]:
    """Every SQL statement that reads the patient locator while the test runs."""
    seen: list[str] = []

    def listen(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "patientlocator" in statement.lower():
            seen.append(statement)

    engine = get_engine()
    sa.event.listen(engine, "before_cursor_execute", listen)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", listen)


# ---- the form --------------------------------------------------------------------------------


def test_the_form_is_normalised_and_every_bad_field_named(db: Database) -> None:
    clean = rights_intake.clean_request(
        form(
            requester_name="  Ann\u202e  Patient ",
            requester_email=" Ann.Patient@EXAMPLE.org ",
            requester_phone="+1 (202) 555-0143",
        )
    )
    assert clean.requester_name == "Ann Patient"
    assert clean.requester_email == PATIENT
    assert clean.requester_phone == "+12025550143"

    with pytest.raises(Invalid) as caught:
        rights_intake.clean_request(
            form(
                kind="everything",
                requester_name=" ",
                requester_email="not-an-address",
                requester_phone="12",
                jurisdiction="XX-NOWHERE",
                details="x" * 4001,
            )
        )
    assert set(caught.value.errors) == {
        "kind",
        "requester_name",
        "requester_email",
        "requester_phone",
        "jurisdiction",
        "details",
    }
    assert "not-an-address" not in str(caught.value)

    with pytest.raises(Invalid) as caught:
        rights_intake.clean_request(form(by_agent=True))
    assert set(caught.value.errors) == {"agent_name", "agent_email"}
    with pytest.raises(Invalid) as caught:
        submit(form(by_agent=True, agent_name="Al Agent", agent_email="al@example.org"))
    assert set(caught.value.errors) == {"authorisation"}


def test_every_listed_jurisdiction_and_kind_is_accepted(db: Database) -> None:
    for code, _label in rights_deadlines.JURISDICTIONS[:5]:
        assert rights_intake.clean_request(form(jurisdiction=code)).jurisdiction == code
    for kind in rights_intake.KIND_LABELS:
        assert rights_intake.clean_request(form(kind=kind)).kind == kind


# ---- submitting and the code ------------------------------------------------------------------


def test_a_request_is_stored_unverified_and_the_patient_gets_a_code(
    db: Database, locator_queries: list[str]
) -> None:
    reference = submit()

    assert rights_intake.clean_reference(reference) == reference
    request = request_of(reference)
    assert request.status == "unverified" and request.verified_at is None
    assert request.requester_email == PATIENT and request.regime
    (mail,) = mails()
    assert mail.recipient == PATIENT and mail.channel == "email"
    assert reference in mail.subject and reference in mail.body
    code = last_code()
    # Only a keyed digest of the code is stored, never the code.
    assert (
        request.code_digest and code not in request.code_digest and len(request.code_digest) == 64
    )
    assert request.code_expires_at is not None
    assert request.code_expires_at - request.received_at == timedelta(minutes=10)
    assert request.codes_sent == 1 and request.code_attempts == 0
    (event,) = platform_events("rights.submitted")
    assert event.target_id == str(request.id) and event.target_type == "rights_request"
    assert PATIENT not in repr(event.details) and "Ann" not in repr(event.details)
    with platform_session() as session:
        steps = session.exec(
            select(RightsRequestStep.action).where(col(RightsRequestStep.request_id) == request.id)
        ).all()
    assert sorted(steps) == ["code_sent", "received"]
    assert locator_queries == []  # nobody is looked up before the code is right


def test_the_right_code_verifies_sets_deadlines_and_finds_the_clinics(
    db: Database, fake_clock: Clock
) -> None:
    a, b = holding_clinic(PATIENT), holding_clinic(PATIENT)
    holding_clinic("someone.else@example.org")
    reference = submit()
    fake_clock.advance(minutes=3)

    outcome = rights_intake.verify(reference, f" {last_code()[:3]} {last_code()[3:]} ")

    assert outcome.state == "verified"
    request = request_of(reference)
    expected = rights_deadlines.deadlines(request.received_at, "US-CA")
    assert (request.acknowledge_by, request.due_on) == (expected.acknowledge_by, expected.due_on)
    assert outcome.due_on == expected.due_on and reference in outcome.message
    assert f"{expected.due_on:%d %B %Y}" in outcome.message
    assert request.status == "pending" and request.verification_method == "email_code"
    assert request.verified_at == fake_clock.now
    assert request.regime == rights_deadlines.regime_for("US-CA")
    assert sorted(request.matched_clinics) == sorted([str(a), str(b)])
    assert request.code_digest is None
    ack = mails()[-1]
    assert ack.recipient == PATIENT and reference in ack.body
    assert f"{expected.due_on:%d %B %Y}" in ack.body
    assert len(platform_events("rights.verified")) == 1


def test_a_typed_phone_finds_no_clinic_only_the_verified_email_does(db: Database) -> None:
    holder = make_tenant(f"clinic-{uuid.uuid4().hex[:6]}")
    with tenant_session(holder) as session:
        victim = Patient(id=uuid7(), full_name="Vic Tim", email="vic@example.org",
                         phone="+12025550143")  # fmt: skip
        session.add(victim)
        session.flush()
        rights_locator.record_patient(session, victim)
        session.commit()
    reference = submit(form(requester_phone="+1 202 555 0143"))  # someone else's number

    assert rights_intake.verify(reference, last_code()).state == "verified"
    assert request_of(reference).matched_clinics == []


def test_five_wrong_codes_lock_the_code_even_the_right_one(db: Database) -> None:
    reference = submit()
    code = last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    states = [rights_intake.verify(reference, wrong).state for _ in range(5)]
    assert states == ["wrong", "wrong", "wrong", "wrong", "locked"]
    assert request_of(reference).code_attempts == 5

    outcome = rights_intake.verify(reference, code)
    assert outcome.state == "locked" and "new code" in outcome.message
    assert request_of(reference).status == "unverified"


def test_an_expired_code_is_refused(db: Database, fake_clock: Clock) -> None:
    reference = submit()
    code = last_code()
    fake_clock.advance(minutes=10, seconds=1)
    outcome = rights_intake.verify(reference, code)
    assert outcome.state == "expired" and "new code" in outcome.message
    assert request_of(reference).status == "unverified"


def test_a_used_code_cannot_be_replayed(db: Database) -> None:
    reference = submit()
    code = last_code()
    assert rights_intake.verify(reference, code).state == "verified"
    sent = len(mails())

    again = rights_intake.verify(reference, code)

    assert again.state == "verified"  # it stays verified; nothing happens a second time
    assert len(mails()) == sent
    assert len(platform_events("rights.verified")) == 1
    assert rights_intake.resend_code(reference).state == "verified"  # no code for a done request


def test_a_resend_kills_the_old_code_and_at_most_five_codes_go(db: Database) -> None:
    reference = submit()
    old = last_code()
    rights_intake.verify(reference, "000000" if old != "000000" else "111111")

    outcome = rights_intake.resend_code(reference)

    assert outcome.state == "sent"
    request = request_of(reference)
    assert request.codes_sent == 2 and request.code_attempts == 0
    new = last_code()
    assert mails()[-1].recipient == PATIENT
    if new != old:
        assert rights_intake.verify(reference, old).state == "wrong"
    for _ in range(3):
        ratelimit.set_backend(ratelimit.MemoryBackend())  # past the resend window
        assert rights_intake.resend_code(reference).state == "sent"
    ratelimit.set_backend(ratelimit.MemoryBackend())
    assert rights_intake.resend_code(reference).state == "exhausted"
    assert request_of(reference).codes_sent == 5
    assert rights_intake.verify(reference, last_code()).state == "verified"


def test_the_answers_are_the_same_whether_or_not_a_clinic_holds_data(
    db: Database, locator_queries: list[str]
) -> None:
    holding_clinic(PATIENT)
    locator_queries.clear()  # writing the clinic's locator row is not a lookup
    answers = []
    for email in (PATIENT, "nobody.known@example.org"):
        ratelimit.set_backend(ratelimit.MemoryBackend())
        reference = submit(form(requester_email=email))
        mail = mails()[-1]
        template = mail.body.replace(reference, "REF").replace(last_code(), "CODE")
        wrong = rights_intake.verify(reference, "12345x")
        resent = rights_intake.resend_code(reference)
        looked = rights_intake.lookup(reference)
        answers.append(
            (
                template,
                mail.subject.replace(reference, "REF"),
                (wrong.state, wrong.message, wrong.attempts_left),
                (resent.state, resent.message),
                (looked.state, looked.message, looked.attempts_left),
            )
        )
    assert answers[0] == answers[1]
    assert locator_queries == []


def test_unknown_references_are_answered_without_detail(db: Database) -> None:
    for reference in ("RR-2345-6789", "nonsense", ""):
        assert rights_intake.verify(reference, "123456").state == "closed"
        assert rights_intake.resend_code(reference).state == "closed"
        assert rights_intake.lookup(reference).state == "closed"


# ---- agents and their authorisation ------------------------------------------------------------


def agent_form() -> RequestForm:
    return form(by_agent=True, agent_name="Al Agent", agent_email="Al@Agency.example.org")


def png_with_metadata() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Ann Patient at 51.5N 0.1W")
    out = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(out, format="PNG", pnginfo=info)
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def test_an_agents_authorisation_is_stored_by_content_under_the_platform_prefix(
    db: Database,
) -> None:
    reference = submit(agent_form(), authorisation=(png_with_metadata(), "scan.pdf"))

    request = request_of(reference)
    assert request.by_agent and request.agent_email == "al@agency.example.org"
    assert request.authorisation_key == f"platform/rights/{request.id}/authorisation"
    assert request.authorisation_type == "image/jpeg"
    stored = get_store().get(request.authorisation_key)
    assert stored.startswith(b"\xff\xd8\xff") and b"Ann Patient" not in stored
    assert mails()[-1].recipient == PATIENT  # the patient confirms, not the agent
    assert "agent" in mails()[-1].body

    pdf_ref = submit(agent_form(), authorisation=(PDF, "letter.png"))
    pdf_request = request_of(pdf_ref)
    assert pdf_request.authorisation_type == "application/pdf"
    assert pdf_request.authorisation_key is not None
    assert get_store().get(pdf_request.authorisation_key) == PDF

    report = storage_check()
    assert report.orphan_objects == [] and report.missing_objects == []


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"MZ\x90\x00 not a document at all", "PDF, JPEG or PNG"),
        (b"<html><body>%PDF-1.4</body></html>", "PDF, JPEG or PNG"),
        (b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024), "10 MB"),
        (b"%PDF-1.4\n1 0 obj<<>>", "damaged"),
    ],
)
def test_an_authorisation_that_is_not_a_pdf_or_image_or_too_big_is_refused(
    db: Database, data: bytes, reason: str
) -> None:
    with pytest.raises(Invalid) as caught:
        submit(agent_form(), authorisation=(data, "authorisation.pdf"))
    assert reason in caught.value.errors["authorisation"]
    assert mails() == []
    assert list(get_store().keys("platform/")) == []


# ---- expiry ------------------------------------------------------------------------------------


def test_unverified_requests_expire_after_30_days_with_their_details_erased(
    db: Database, fake_clock: Clock
) -> None:
    old = submit(agent_form(), authorisation=(PDF, "a.pdf"))
    key = request_of(old).authorisation_key
    assert key is not None and get_store().exists(key)
    verified = submit()
    rights_intake.verify(verified, last_code())
    fake_clock.advance(days=29)
    recent = submit(ip="203.0.113.9")

    assert rights_intake.expire_unverified() == 0
    fake_clock.advance(days=1)
    assert rights_intake.expire_unverified() == 1

    gone = request_of(old)
    assert gone.status == "expired" and gone.closed_at == fake_clock.now
    assert (gone.requester_name, gone.requester_email, gone.requester_phone) == ("", "", None)
    assert (gone.details, gone.agent_name, gone.agent_email) == ("", "", "")
    assert gone.authorisation_key is None and gone.code_digest is None
    assert get_store().gone(key)
    assert request_of(recent).status == "unverified"
    assert request_of(verified).status == "pending"
    assert rights_intake.lookup(old).state == "closed"
    assert rights_intake.verify(old, "123456").state == "closed"
    assert len(platform_events("rights.expired")) == 1
    assert rights_intake.expire_unverified() == 0


# ---- rate limits -------------------------------------------------------------------------------


def test_submissions_and_code_checks_are_rate_limited(db: Database) -> None:
    for _ in range(ratelimit.RIGHTS_SUBMIT_PER_ADDRESS.max_hits):
        submit()
    with pytest.raises(rights_intake.RateLimited, match="try again"):
        submit()
    submit(ip="198.51.100.7")  # another address is not held up

    reference = submit(ip="198.51.100.8")
    limit = ratelimit.RIGHTS_CODE_PER_REQUEST.max_hits
    # Spread over many addresses: the request's own limit still holds.
    states = [
        rights_intake.verify(reference, "000000", ip=f"192.0.2.{i}").state for i in range(limit)
    ]
    assert "limited" not in states
    late = rights_intake.verify(reference, "000000", ip="192.0.2.250")
    assert late.state == "limited" and "try again" in late.message

    resends = [
        rights_intake.resend_code(reference, ip="192.0.2.200").state
        for _ in range(ratelimit.RIGHTS_RESEND_PER_REQUEST.max_hits + 1)
    ]
    assert resends == ["sent"] * ratelimit.RIGHTS_RESEND_PER_REQUEST.max_hits + ["limited"]


def test_the_in_process_workers_daily_housekeeping_expires_them(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from mi_portal.services import outbox

    reference = submit()
    with platform_session() as session:
        request = session.exec(
            select(RightsRequest).where(col(RightsRequest.reference) == reference)
        ).one()
        request.received_at -= timedelta(days=31)
        session.add(request)
        session.commit()
    monkeypatch.setattr(outbox, "RETENTION_START_DELAY", 0.0)
    stop = threading.Event()
    worker = threading.Thread(
        target=outbox.run, kwargs={"stop": stop, "retention_daily": True, "idle_sleep": 0.05}
    )
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while request_of(reference).status != "expired" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(10)
    assert request_of(reference).status == "expired"
    assert request_of(reference).requester_email == ""


def test_the_code_page_of_an_answered_request_says_it_was_answered(db: Database) -> None:
    reference = submit()
    assert rights_intake.verify(reference, last_code()).state == "verified"
    assert "you will hear from us by" in rights_intake.lookup(reference).message
    with platform_session() as session:
        request = session.exec(
            select(RightsRequest).where(col(RightsRequest.reference) == reference)
        ).one()
        request.status, request.closed_at = "completed", request.verified_at
        session.add(request)
        session.commit()
    answered = rights_intake.lookup(reference)
    assert answered.state == "verified" and "has been answered" in answered.message
    assert answered.due_on is None
