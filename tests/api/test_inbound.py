"""Inbound webhooks: signed email and SMS reach the right thread of the right clinic, or nothing.

Real routes (Starlette's test client over the app's own route list), real databases (SQLite and
PostgreSQL), real image pipeline and blob store; the signature is made the way a provider makes it.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select
from starlette.testclient import TestClient

from mi_portal.api import inbound
from mi_portal.api.routes import build_api_app
from mi_portal.config import get_settings
from mi_portal.db import get_engine, platform_session, tenant_session
from mi_portal.models import (
    AuditEvent,
    ConsentKind,
    ConsentRecord,
    ImageRendition,
    Message,
    MessageAttachment,
    MessageThread,
    OutboxMessage,
    Patient,
    Role,
    SubmissionImage,
    Tenant,
)
from mi_portal.services import (
    audit,
    clock,
    consent,
    delivery_status,
    messaging,
    ratelimit,
    webhooks,
)
from mi_portal.services.actor import Actor
from mi_portal.services.inbound_email import strip_quoted
from mi_portal.services.messaging import ConsentRefused
from tests.conftest import Database
from tests.factories import World, make_case, make_user, owner_session, two_clinics
from tests.intake_helpers import jpeg_bytes

A_NUMBER, B_NUMBER, PATIENT_PHONE = "+12025550111", "+12025550122", "+12025550143"


def _staff(tenant_id: uuid.UUID) -> Actor:
    user_id, _ = make_user(
        f"{uuid.uuid4().hex[:8]}@staff.test", role="coordinator", tenants=(tenant_id,)
    )
    return Actor(user_id=user_id, role=Role.COORDINATOR, tenant_id=tenant_id)


def _configure(tenant_id: uuid.UUID, **settings: str) -> None:
    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.settings = {**(tenant.settings or {}), **settings}
        session.add(tenant)
        session.commit()


def _patient(tenant_id: uuid.UUID, patient_id: uuid.UUID, *, phone: str, sms: bool) -> None:
    with tenant_session(tenant_id) as session:
        patient = session.get(Patient, (tenant_id, patient_id))
        assert patient is not None
        patient.phone = phone
        session.add(patient)
        consent.record(session, patient_id, ConsentKind.SMS_OPT_IN, sms, source="intake")
        session.commit()


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    w = two_clinics()
    _configure(w.a, sms_number="(202) 555-0111", contact_email="hello@clinic-a.test")
    _configure(w.b, sms_number=B_NUMBER)
    # The demo types phone numbers in many ways: found by E.164 all the same.
    _patient(w.a, w.a_patient, phone="(202) 555-0143", sms=True)
    _patient(w.b, w.b_patient, phone="202-555-0143", sms=True)
    staff = _staff(w.a)
    messaging.send_message(staff, w.a_submission, channel="email", subject="Hello", body="Hi")
    with tenant_session(w.a) as session:
        thread = session.exec(select(MessageThread)).one()
        address = messaging.reply_address(thread)
    return {"w": w, "staff": staff, "address": address}


def _client() -> TestClient:
    return TestClient(build_api_app(), base_url="http://localhost:3000")


def _post(
    path: str,
    body: bytes,
    *,
    secret: str | None = None,
    ts: int | None = None,
    signature: str | None = None,
    content_type: str = "message/rfc822",
) -> Any:
    stamp = str(int(time.time()) if ts is None else ts)
    secret = secret if secret is not None else get_settings().inbound_email_secret
    headers = {"content-type": content_type, "x-mi-timestamp": stamp}
    headers["x-mi-signature"] = (
        signature if signature is not None else webhooks.signature(secret, stamp, body)
    )
    return _client().post(path, content=body, headers=headers)


def _email(
    to: str,
    text: str = "Thanks, Tuesday works.",
    *,
    message_id: str = "<m1@patient.example>",
    photo: bytes | None = None,
    pdf: bool = False,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice <alice@example.org>"
    msg["To"] = f"Clinic A <{to}>"
    msg["Subject"] = "Re: Hello"
    msg["Message-ID"] = message_id
    msg.set_content(text)
    if photo is not None:
        msg.add_attachment(photo, maintype="image", subtype="jpeg", filename="elbow.jpg")
    if pdf:
        msg.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename="a.pdf")
    return bytes(msg)


def _everywhere(table: Any, *where: Any) -> list[Any]:
    """Rows of every clinic, read as the database's owner (past the tenant scoping)."""
    engine = get_engine(get_settings().admin_database_url)
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table).where(*where)))


def _inbound() -> list[Any]:
    t = Message.__table__  # type: ignore[attr-defined]
    return sorted(_everywhere(t, t.c.direction == "inbound"), key=lambda r: r.created_at)


def _sms(body: str, *, sender: str = "+1 202 555 0143", to: str = A_NUMBER, sid: str = "") -> Any:
    form = {"From": sender, "To": to, "Body": body, "MessageSid": sid or f"SM{uuid.uuid4().hex}"}
    from urllib.parse import urlencode

    return _post(
        "/api/inbound/sms",
        urlencode(form).encode(),
        secret=get_settings().inbound_sms_secret,
        content_type="application/x-www-form-urlencoded",
    )


# --- email ------------------------------------------------------------------------------------


def test_a_signed_email_is_appended_to_its_thread_without_the_quoted_text(
    world: dict[str, Any],
) -> None:
    w: World = world["w"]
    quoted = "Thanks, Tuesday works.\n\nOn Mon, 30 Nov 2026, Clinic A wrote:\n> Hi\n> there"
    answer = _post("/api/inbound/email", _email(world["address"], quoted))
    assert answer.status_code == 200 and answer.json() == {"status": "stored"}
    [message] = _inbound()
    assert message.tenant_id == w.a and message.channel == "email"
    assert message.body == "Thanks, Tuesday works." and message.subject == "Re: Hello"
    assert message.external_id == "<m1@patient.example>"
    with owner_session() as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "message.received")
        ).one()
    assert event.tenant_id == w.a and event.details["channel"] == "email"
    assert "Tuesday" not in str(event.details)


def test_quoted_text_markers() -> None:
    assert strip_quoted("Yes\n> old\nmore") == "Yes\nmore"
    assert strip_quoted("Fine\nOn Mon, 30 Nov 2026 at 10:00, Clinic\n<x@y> wrote:\nold") == "Fine"
    assert strip_quoted("Ok\n-----Original Message-----\nold") == "Ok"
    assert strip_quoted("Ok\nFrom: Clinic\nSent: Monday\nold") == "Ok"


def test_unsigned_wrongly_signed_and_stale_emails_are_refused_and_nothing_is_stored(
    world: dict[str, Any],
) -> None:
    raw = _email(world["address"])
    fixed = datetime.now(UTC).replace(microsecond=0)
    clock.set_clock(lambda: fixed)
    now = int(fixed.timestamp())
    client = _client()
    assert client.post("/api/inbound/email", content=raw).status_code == 401
    assert _post("/api/inbound/email", raw, signature="0" * 64).status_code == 401
    assert _post("/api/inbound/email", raw, secret="another-secret").status_code == 401
    # A captured request replayed later, or dated in the future.
    try:
        assert _post("/api/inbound/email", raw, ts=now - 301).status_code == 401
        assert _post("/api/inbound/email", raw, ts=now + 301).status_code == 401
    finally:
        clock.set_clock(None)
    # Signed for another body.
    other = webhooks.signature(get_settings().inbound_email_secret, str(now), b"other")
    assert _post("/api/inbound/email", raw, ts=now, signature=other).status_code == 401
    # The SMS provider's secret does not open the email door.
    sms_secret = get_settings().inbound_sms_secret
    assert _post("/api/inbound/email", raw, secret=sms_secret).status_code == 401
    assert _inbound() == []


def test_another_clinics_address_or_a_retired_key_stores_nothing(world: dict[str, Any]) -> None:
    w: World = world["w"]
    key = world["address"].split(".", 1)[1].split("@", 1)[0]
    domain = get_settings().reply_domain
    # Clinic A's key under clinic B's id: B has no such thread, and A is never consulted.
    foreign = f"reply+{w.b.hex}.{key}@{domain}"
    answer = _post("/api/inbound/email", _email(foreign, message_id="<f@x>"))
    assert answer.status_code == 200 and answer.json() == {"status": "ignored"}
    # A key that was never issued, and a plain address.
    for i, to in enumerate((f"reply+{w.a.hex}.{'a' * 16}@{domain}", "clinic@example.org")):
        assert _post("/api/inbound/email", _email(to, message_id=f"<u{i}@x>")).json() == {
            "status": "ignored"
        }
    # The link was renewed: the old address opens nothing any more.
    with tenant_session(w.a) as session:
        thread = session.exec(select(MessageThread)).one()
        messaging.renew_reply_key(session, thread)
        session.commit()
    assert _post("/api/inbound/email", _email(world["address"])).json() == {"status": "ignored"}
    assert _inbound() == []
    assert _everywhere(SubmissionImage.__table__) == []  # type: ignore[attr-defined]


def test_a_suspended_clinic_takes_in_no_email_until_it_is_reactivated(
    world: dict[str, Any],
) -> None:
    w: World = world["w"]
    with platform_session() as session:
        clinic = session.get(Tenant, w.a)
        assert clinic is not None
        clinic.status, clinic.active = "suspended", False
        session.add(clinic)
        session.commit()
    answer = _post("/api/inbound/email", _email(world["address"], message_id="<s1@x>"))
    assert answer.json() == {"status": "ignored"}
    assert _inbound() == []
    with platform_session() as session:
        clinic = session.get(Tenant, w.a)
        assert clinic is not None
        clinic.status, clinic.active = "active", True
        session.add(clinic)
        session.commit()
    answer = _post("/api/inbound/email", _email(world["address"], message_id="<s2@x>"))
    assert answer.json() == {"status": "stored"}


def test_the_same_email_posted_twice_is_stored_once(world: dict[str, Any]) -> None:
    raw = _email(world["address"])
    assert _post("/api/inbound/email", raw).json() == {"status": "stored"}
    assert _post("/api/inbound/email", raw).json() == {"status": "duplicate"}
    assert len(_inbound()) == 1


def test_an_emailed_photo_becomes_a_case_photo_and_other_files_are_dropped(
    world: dict[str, Any],
) -> None:
    w: World = world["w"]
    raw = _email(world["address"], "Here it is", photo=jpeg_bytes(7), pdf=True)
    assert _post("/api/inbound/email", raw).json() == {"status": "stored"}
    [message] = _inbound()
    with tenant_session(w.a) as session:
        [attachment] = session.exec(select(MessageAttachment)).all()
        image = session.get(SubmissionImage, (w.a, attachment.image_id))
        kinds = set(
            session.exec(
                select(ImageRendition.kind).where(ImageRendition.image_id == attachment.image_id)
            )
        )
    assert attachment.message_id == message.id and attachment.kind == "photo"
    assert image is not None and image.submission_id == w.a_submission
    assert image.display_name == "elbow.jpg"
    assert {"original", "preview", "thumbnail"} <= kinds


def test_an_oversized_email_is_refused(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mi_portal.services import inbound_email

    monkeypatch.setattr(inbound_email, "MAX_EMAIL_BYTES", 1000)
    raw = _email(world["address"], "x" * 2000)
    assert _post("/api/inbound/email", raw).status_code == 413
    assert _inbound() == []


def test_webhooks_are_rate_limited_per_address(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        inbound,
        "WEBHOOK_PER_ADDRESS",
        ratelimit.Limit("inbound-test", 2, ratelimit.timedelta(minutes=1)),
    )
    raw = _email(world["address"])
    codes = [_post("/api/inbound/email", raw).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# --- SMS --------------------------------------------------------------------------------------


def _sms_consent_rows(tenant_id: uuid.UUID) -> list[ConsentRecord]:
    with tenant_session(tenant_id) as session:
        return list(
            session.exec(
                select(ConsentRecord)
                .where(ConsentRecord.kind == ConsentKind.SMS_OPT_IN.value)
                .order_by(col(ConsentRecord.recorded_at), col(ConsentRecord.id))
            )
        )


def _outbox(tenant_id: uuid.UUID, kind: str = "auto_reply") -> list[OutboxMessage]:
    with tenant_session(tenant_id) as session:
        return list(
            session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.kind == kind)
                .order_by(col(OutboxMessage.created_at))
            )
        )


def test_stop_opts_out_once_acknowledges_once_and_staff_cannot_text_then_start_and_help(
    world: dict[str, Any],
) -> None:
    w: World = world["w"]
    assert _sms("STOP").json() == {"status": "opted_out"}
    assert _sms("  stop ").json() == {"status": "unchanged"}  # repeated: no new row, no answer
    rows = _sms_consent_rows(w.a)
    assert [(r.granted, r.source) for r in rows] == [(True, "intake"), (False, "sms_keyword")]
    [ack] = _outbox(w.a)
    assert ack.recipient == PATIENT_PHONE and ack.channel == "sms" and "START" in ack.body
    # Clinic B's patient with the same number is another clinic's business: untouched.
    assert [r.granted for r in _sms_consent_rows(w.b)] == [True]
    # Staff try to text the patient: refused, nothing queued.
    with pytest.raises(ConsentRefused):
        messaging.send_message(world["staff"], w.a_submission, channel="sms", subject="", body="Hi")
    assert _outbox(w.a, "patient_message") and all(
        r.channel == "email" for r in _outbox(w.a, "patient_message")
    )
    with owner_session() as session:
        changes = session.exec(
            select(AuditEvent).where(AuditEvent.action == "consent.changed")
        ).all()
    assert [(e.details["granted"], e.details["source"]) for e in changes] == [
        (False, "sms_keyword")
    ]
    # START: opted back in, confirmed once; staff can text again.
    assert _sms("Start").json() == {"status": "opted_in"}
    assert consent_now(w.a, w.a_patient)
    assert len(_outbox(w.a)) == 2
    messaging.send_message(world["staff"], w.a_submission, channel="sms", subject="", body="Hi")
    # HELP: one answer naming the clinic and its contact.
    assert _sms("HELP").json() == {"status": "help"}
    answers = _outbox(w.a)
    assert len(answers) == 3 and "Clinic-A" in answers[-1].body
    assert "hello@clinic-a.test" in answers[-1].body
    assert _outbox(w.b) == []


def consent_now(tenant_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
    with tenant_session(tenant_id) as session:
        return consent.current(session, patient_id, ConsentKind.SMS_OPT_IN)


def test_a_text_joins_the_newest_case_of_the_patient_once(world: dict[str, Any]) -> None:
    w: World = world["w"]
    # The same person's later consultation: a second patient row with the number typed otherwise.
    newer_patient, newer_case = make_case(w.a, name="Alice Again")
    _patient(w.a, newer_patient, phone="+1 (202) 555-0143", sms=False)
    assert _sms("See you then", sid="SM1").json() == {"status": "stored"}
    assert _sms("See you then", sid="SM1").json() == {"status": "duplicate"}
    [message] = _inbound()
    assert message.channel == "sms" and message.body == "See you then"
    assert message.external_id == "SM1" and message.tenant_id == w.a
    with tenant_session(w.a) as session:
        thread = session.get(MessageThread, (w.a, message.thread_id))
    assert thread is not None and thread.submission_id == newer_case
    assert thread.last_direction == "inbound"
    # STOP applies to every record of that person in the clinic that is opted in.
    assert _sms("STOP").json() == {"status": "opted_out"}
    assert not consent_now(w.a, w.a_patient) and not consent_now(w.a, newer_patient)
    assert len(_outbox(w.a)) == 1


def test_texts_to_no_clinics_number_or_from_strangers_or_unsigned_store_nothing(
    world: dict[str, Any],
) -> None:
    w: World = world["w"]
    # The platform's default sender belongs to no clinic.
    assert _sms("Hello", to=get_settings().sms_from).json() == {"status": "ignored"}
    assert _sms("Hello", sender="+12025550199").json() == {"status": "ignored"}
    assert _sms("STOP", sender="+12025550199").json() == {"status": "ignored"}
    assert _sms("Hello", sender="not a number").json() == {"status": "ignored"}
    signed_for_email = _post(
        "/api/inbound/sms",
        b"From=%2B12025550143&To=%2B12025550111&Body=STOP&MessageSid=SM9",
        content_type="application/x-www-form-urlencoded",
    )
    assert signed_for_email.status_code == 401
    assert _inbound() == [] and _outbox(w.a) == []
    assert consent_now(w.a, w.a_patient)


# --- delivery reports -------------------------------------------------------------------------


def _sms_row(world: dict[str, Any]) -> OutboxMessage:
    w: World = world["w"]
    messaging.send_message(world["staff"], w.a_submission, channel="sms", subject="", body="Hi")
    with tenant_session(w.a) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.channel == "sms")).one()
        row.status, row.provider_ref = "sent", "SMabc"
        session.add(row)
        session.commit()
        session.refresh(row)
        return row


def _status(url: str, status: str, *, secret: str | None = None) -> Any:
    path = url.split("localhost:3000", 1)[-1] if "://" in url else url
    body = f"MessageSid=SMabc&MessageStatus={status}".encode()
    return _post(
        path,
        body,
        secret=secret if secret is not None else get_settings().inbound_sms_secret,
        content_type="application/x-www-form-urlencoded",
    )


def _row(tenant_id: uuid.UUID, row_id: uuid.UUID) -> OutboxMessage:
    with tenant_session(tenant_id) as session:
        row = session.get(OutboxMessage, (tenant_id, row_id))
        assert row is not None
        return row


def test_a_status_callback_marks_the_row_delivered_or_failed(world: dict[str, Any]) -> None:
    w: World = world["w"]
    row = _sms_row(world)
    url = delivery_status.status_callback_url(w.a, row.id)
    assert url.startswith(get_settings().frontend_origin + "/api/inbound/sms/status?o=")
    assert _status(url, "queued").json() == {"status": "unchanged"}
    assert _status(url, "delivered").json() == {"status": "updated"}
    got = _row(w.a, row.id)
    assert got.status == "delivered" and got.delivered_at is not None
    # A second row: the provider could not deliver it.
    other = _sms_row_again(world)
    url = delivery_status.status_callback_url(w.a, other)
    assert _status(url, "undelivered").json() == {"status": "updated"}
    failed = _row(w.a, other)
    assert failed.status == "failed" and failed.last_error == "the provider could not deliver it"


def _sms_row_again(world: dict[str, Any]) -> uuid.UUID:
    w: World = world["w"]
    messaging.send_message(world["staff"], w.a_submission, channel="sms", subject="", body="Again")
    with tenant_session(w.a) as session:
        row = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.channel == "sms", OutboxMessage.status == "pending"
            )
        ).one()
        row.status = "sent"
        session.add(row)
        session.commit()
        return row.id


def test_a_status_callback_with_a_bad_token_or_signature_changes_nothing(
    world: dict[str, Any],
) -> None:
    w: World = world["w"]
    row = _sms_row(world)
    good = delivery_status.status_callback_url(w.a, row.id)
    assert _status("/api/inbound/sms/status?o=garbage", "delivered").status_code == 404
    assert _status(good + "x", "delivered").status_code == 404
    # A genuine token naming clinic B with A's row: B has no such row.
    foreign = delivery_status.status_callback_url(w.b, row.id)
    assert _status(foreign, "delivered").json() == {"status": "unchanged"}
    # Signed with the wrong secret.
    assert _status(good, "delivered", secret="nope").status_code == 401
    # Another purpose's token (a reply link) does not open the status door.
    with tenant_session(w.a) as session:
        thread = session.exec(select(MessageThread)).one()
        reply_token = messaging.reply_link(thread).rsplit("/", 1)[1]
    assert _status(f"/api/inbound/sms/status?o={reply_token}", "delivered").status_code == 404
    assert _row(w.a, row.id).status == "sent"


def test_an_html_only_email_keeps_the_words_without_the_quote(world: dict[str, Any]) -> None:
    msg = EmailMessage()
    msg["To"] = world["address"]
    msg["Subject"] = "Re: Hello"
    msg["Message-ID"] = "<html@patient.example>"
    msg.set_content(
        "<p>Yes &amp; thanks<br>Alice</p><blockquote>Hi from the clinic</blockquote>",
        subtype="html",
    )
    assert _post("/api/inbound/email", bytes(msg)).json() == {"status": "stored"}
    [message] = _inbound()
    assert message.body == "Yes & thanks\nAlice"


def test_an_email_with_nothing_to_store_is_ignored(world: dict[str, Any]) -> None:
    raw = _email(world["address"], "> only the quote\n> of the clinic")
    assert _post("/api/inbound/email", raw).json() == {"status": "ignored"}
    assert _inbound() == []


# --- the platform's shared number -------------------------------------------------------------


def test_clinics_without_a_number_text_from_the_shared_one_and_hear_the_answers(
    world: dict[str, Any],
) -> None:
    from mi_portal.services import outbox

    w: World = world["w"]
    shared = get_settings().sms_from
    # Clinic A has its own number: its texts go from it. Clinic B gives its number up.
    _configure(w.b, sms_number="")
    messaging.send_message(world["staff"], w.a_submission, channel="sms", subject="", body="A")
    messaging.send_message(_staff(w.b), w.b_submission, channel="sms", subject="", body="B")
    assert outbox.deliver_once().sent == 3  # with the world's first email
    sent = {
        json.loads(p.read_text())["Body"]: json.loads(p.read_text())["From"]
        for p in (get_settings().data_dir / "sms").glob("*.json")
    }
    assert sent == {"A": "+12025550111", "B": shared}

    # The patient answers the shared number: clinic B (the one that texted it) hears it.
    assert _sms("Thanks, B", to=shared).json() == {"status": "stored"}
    [answer] = _inbound()
    assert answer.tenant_id == w.b and answer.body == "Thanks, B"
    # STOP to the shared number: every clinic texting from it stops; clinic A's own line does not.
    assert _sms("STOP", to=shared).json() == {"status": "opted_out"}
    assert not consent_now(w.b, w.b_patient) and consent_now(w.a, w.a_patient)
    assert len(_outbox(w.b)) == 1 and _outbox(w.a) == []
    assert _sms("STOP", to=shared).json() == {"status": "unchanged"}
    assert len(_outbox(w.b)) == 1


@pytest.mark.parametrize("kind", ["email", "text", "stop"])
def test_what_cannot_be_recorded_in_the_audit_chain_is_not_stored(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A received message or consent change is recorded in the transaction that stores it: if
    its event cannot be appended, nothing is kept (no message, no consent row, no answer
    queued) and the provider is told to try again; its retry is then stored once."""
    w: World = world["w"]

    def post() -> Any:
        if kind == "email":
            return _post("/api/inbound/email", _email(world["address"]))
        return _sms("STOP" if kind == "stop" else "See you then", sid="SM-retry")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the chain's head could not be read")

    with monkeypatch.context() as failing:
        failing.setattr(audit, "_append_in", broken)
        with TestClient(build_api_app(), base_url="http://localhost:3000",
                        raise_server_exceptions=False) as client:  # fmt: skip
            failing.setattr(sys.modules[__name__], "_client", lambda: client)
            answer = post()
    assert answer.status_code >= 500
    assert _inbound() == []
    assert [r.granted for r in _sms_consent_rows(w.a)] == [True]
    assert _outbox(w.a) == []
    with owner_session() as session:
        assert not session.exec(
            select(AuditEvent).where(
                col(AuditEvent.action).in_(["message.received", "consent.changed"])
            )
        ).all()
    retried = post().json()
    assert retried == {"status": "opted_out" if kind == "stop" else "stored"}
    assert len(_inbound()) == (0 if kind == "stop" else 1)
    with owner_session() as session:
        [event] = session.exec(
            select(AuditEvent).where(
                col(AuditEvent.action).in_(["message.received", "consent.changed"])
            )
        ).all()
    assert event.tenant_id == w.a
    assert audit.verify_chain(audit.chain_for(w.a)) is None
