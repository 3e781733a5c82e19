"""The reply page's handlers: a good link shows its own thread, a bad one shows nothing."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import col, select

import mi_portal.mi_portal  # noqa: F401  (registers every state)
from mi_portal.db import tenant_session
from mi_portal.models import (
    AuditEvent,
    ConsentKind,
    ConsentRecord,
    Message,
    MessageAttachment,
    MessageThread,
    Patient,
    SubmissionImage,
)
from mi_portal.services import audit, consent, messaging, signed_links
from mi_portal.state.reply import INVALID, ReplyState
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import owner_session, two_clinics
from tests.intake_helpers import jpeg_bytes
from tests.reply_helpers import clinic_writes


def _root(token: str) -> rx.State:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"user-agent": "pytest"},
            "ip": "198.51.100.7",
            "pathname": "/m/[token]",
            "query": {"token": token},
        }
    )
    return root


async def _run(state: ReplyState, name: str, *args: Any) -> None:
    result = ReplyState.event_handlers[name].fn(state, *args)
    if hasattr(result, "__aiter__"):
        async for _ in result:
            pass
    else:
        await result


def handle(
    token: str, *calls: tuple[str, tuple[Any, ...]], fill: dict[str, Any] | None = None
) -> ReplyState:
    """Run the handlers in order on one tab whose address carries ``token``."""

    async def go() -> ReplyState:
        state = await _root(token).get_state(ReplyState)
        assert isinstance(state, ReplyState)
        for name, args in calls:
            if name == "fill":
                for k, v in (fill or {}).items():
                    setattr(state, k, v)
                continue
            await _run(state, name, *args)
        return state

    return asyncio.run(go())


def _upload(name: str, data: bytes) -> rx.UploadFile:
    return rx.UploadFile(file=io.BytesIO(data), path=Path(name))


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    w = two_clinics()
    with tenant_session(w.a) as session:
        patient = session.get(Patient, (w.a, w.a_patient))
        assert patient is not None
        patient.phone = "+1 202 555 0143"
        consent.record(session, w.a_patient, ConsentKind.SMS_OPT_IN, True, source="intake")
        session.add(patient)
        session.commit()
    a_token = clinic_writes(
        w.a, w.a_submission, "Hello Alice, please send a closer photo.", with_pdf=True
    )
    b_token = clinic_writes(w.b, w.b_submission, "Hello Bob, your quote is ready.")
    return {"w": w, "a": a_token, "b": b_token}


def test_a_good_link_shows_its_clinic_case_and_thread(world: dict[str, Any]) -> None:
    w = world["w"]
    state = handle(world["a"], ("load", ()))
    assert not state.invalid and state.loaded
    assert state.clinic_name == "Clinic-A"
    assert state.reference == str(w.a_submission)[-8:].upper()
    [message] = state.messages
    assert message["body"] == "Hello Alice, please send a closer photo."
    assert message["author"] == "Sam" and "Rivera" not in str(state.messages)
    assert not message["mine"]
    [pdf] = message["attachments"]
    assert pdf["name"] == "aftercare.pdf" and pdf["url"].startswith("/api/reply-files/")
    assert "Bob" not in str(state.dict())
    assert state.sms_consent and state.has_phone


@pytest.mark.parametrize("bad", ["", "garbage", "x" * 3000])
def test_a_bad_link_shows_only_that_it_is_not_valid(world: dict[str, Any], bad: str) -> None:
    state = handle(bad, ("load", ()))
    assert state.invalid and state.error == INVALID
    assert state.messages == [] and state.clinic_name == "" and state.reference == ""


def test_a_tab_that_showed_a_thread_forgets_it_when_the_link_goes_bad(
    world: dict[str, Any],
) -> None:
    w = world["w"]

    async def go() -> ReplyState:
        root = _root(world["a"])
        state = await root.get_state(ReplyState)
        assert isinstance(state, ReplyState)
        await _run(state, "load")
        assert state.messages
        with tenant_session(w.a) as session:
            thread = session.exec(select(MessageThread)).one()
            messaging.renew_reply_key(session, thread)  # the clinic issued a new link
            session.commit()
        state.reply_text = "Is this still you?"
        await _run(state, "send", [])
        return state

    state = asyncio.run(go())
    assert state.invalid and state.messages == [] and state.reply_text == ""
    with tenant_session(w.a) as session:
        assert session.exec(select(Message).where(Message.direction == "inbound")).all() == []


def test_a_token_naming_another_clinic_never_opens_its_thread(world: dict[str, Any]) -> None:
    w = world["w"]
    claims = signed_links.verify(
        messaging.REPLY_PURPOSE, world["a"], subject=messaging.REPLY_SUBJECT
    )
    assert claims is not None
    # A genuine signature over clinic B's id with clinic A's key: B has no such thread.
    forged = signed_links.sign(
        messaging.REPLY_PURPOSE,
        subject=messaging.REPLY_SUBJECT,
        lifetime=3600,
        claims={"t": str(w.b), "k": claims["k"]},
    )
    state = handle(forged, ("load", ()))
    assert state.invalid and state.messages == []
    # And B's own link shows B's thread only.
    state = handle(world["b"], ("load", ()))
    assert [m["body"] for m in state.messages] == ["Hello Bob, your quote is ready."]
    assert "Alice" not in str(state.dict())


def test_a_reply_with_a_photo_is_appended_and_becomes_a_case_photo(world: dict[str, Any]) -> None:
    w = world["w"]
    state = handle(
        world["a"],
        ("load", ()),
        ("update_reply", ("  Here is a closer one.\u200b ",)),
        ("send", ([_upload("closer.jpg", jpeg_bytes(3))],)),
    )
    assert state.notice == "Your message was sent to the clinic." and state.error == ""
    assert state.reply_text == ""
    mine = state.messages[-1]
    assert mine["mine"] and mine["author"] == "You" and mine["body"] == "Here is a closer one."
    assert [a["name"] for a in mine["attachments"]] == ["closer.jpg"]
    with tenant_session(w.a) as session:
        message = session.exec(select(Message).where(Message.direction == "inbound")).one()
        attachment = session.exec(
            select(MessageAttachment).where(MessageAttachment.kind == "photo")
        ).one()
        image = session.get(SubmissionImage, (w.a, attachment.image_id))
    assert message.channel == "portal" and attachment.message_id == message.id
    assert image is not None and image.submission_id == w.a_submission
    with tenant_session(w.b) as session:
        assert session.exec(select(Message).where(Message.direction == "inbound")).all() == []


def test_an_empty_reply_too_many_photos_or_a_bad_photo_is_refused(world: dict[str, Any]) -> None:
    state = handle(world["a"], ("load", ()), ("send", ([],)))
    assert state.error == "Write a message or add a photo."
    six = [_upload(f"p{i}.jpg", jpeg_bytes(i)) for i in range(6)]
    state = handle(world["a"], ("load", ()), ("update_reply", ("hi",)), ("send", (six,)))
    assert "at most 5 photos" in state.error
    state = handle(
        world["a"],
        ("load", ()),
        ("update_reply", ("hi",)),
        ("send", ([_upload("n.jpg", b"text")],)),
    )
    assert state.error.startswith("n.jpg:")
    state = handle(world["a"], ("load", ()), ("update_reply", ("x" * 5001,)), ("send", ([],)))
    assert "5000" in state.error
    with tenant_session(world["w"].a) as session:
        assert session.exec(select(Message).where(Message.direction == "inbound")).all() == []


def test_the_patient_withdraws_and_gives_sms_consent(world: dict[str, Any]) -> None:
    w = world["w"]
    state = handle(world["a"], ("load", ()), ("change_sms", (False,)))
    assert not state.sms_consent and "no more text messages" in state.sms_notice
    state = handle(world["a"], ("load", ()), ("change_sms", (False,)))  # no change, no new row
    state = handle(world["a"], ("load", ()), ("change_sms", ("yes",)))  # not a bool: ignored
    with tenant_session(w.a) as session:
        rows = session.exec(
            select(ConsentRecord)
            .where(ConsentRecord.kind == "sms_opt_in")
            .order_by(col(ConsentRecord.recorded_at))
        ).all()
    assert [(r.granted, r.source) for r in rows] == [(True, "intake"), (False, "reply_page")]
    assert rows[-1].ip == "198.51.100.7"
    state = handle(world["a"], ("load", ()), ("change_sms", (True,)))
    assert state.sms_consent
    with owner_session() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.action == "consent.changed")
        ).all()
    assert [(e.details["granted"], e.details["source"]) for e in events] == [
        (False, "reply_page"),
        (True, "reply_page"),
    ]
    assert all(e.tenant_id == w.a for e in events)
    # A forged call on a bad link changes nothing.
    handle("garbage", ("change_sms", (False,)))
    with tenant_session(w.a) as session:
        assert consent.current(session, w.a_patient, ConsentKind.SMS_OPT_IN)


def test_the_state_holds_nothing_of_the_patient_beyond_the_page(world: dict[str, Any]) -> None:
    w = world["w"]
    state = handle(world["a"], ("load", ()))
    with tenant_session(w.a) as session:
        patient = session.get(Patient, (w.a, w.a_patient))
        assert patient is not None
    shown = str(state.dict())
    for private in (
        patient.full_name,
        patient.email,
        "+12025550143",
        "202 555 0143",
        str(w.a_patient),
        str(w.a),
    ):
        assert private not in shown


def test_sending_is_rate_limited_per_address(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from mi_portal.services import ratelimit
    from mi_portal.state import reply

    monkeypatch.setattr(
        reply,
        "REPLY_SEND_PER_ADDRESS",
        ratelimit.Limit("reply-send-test", 1, timedelta(minutes=10)),
    )
    state = handle(world["a"], ("load", ()), ("update_reply", ("one",)), ("send", ([],)))
    assert state.error == ""
    state = handle(world["a"], ("load", ()), ("update_reply", ("two",)), ("send", ([],)))
    assert state.error.startswith("Too many requests from this connection")
    with tenant_session(world["w"].a) as session:
        bodies = session.exec(select(Message.body).where(Message.direction == "inbound")).all()
    assert list(bodies) == ["one"]


def test_a_reply_or_consent_change_that_cannot_be_recorded_keeps_nothing_and_says_so(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply and the consent change are recorded in the audit chain in the transactions
    that store them: when the event cannot be appended, nothing is kept (no message, no case
    photo, no stored object, no consent row), the patient is told, what they typed stays and
    the button works again. Sent again once the chain is back, it is stored once."""
    w = world["w"]

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the chain's head could not be read")

    objects_before = sorted(k for k, _ in get_store().listing(""))
    with tenant_session(w.a) as session:
        images_before = session.exec(select(SubmissionImage)).all()
    with monkeypatch.context() as failing:
        failing.setattr(audit, "_append_in", broken)
        state = handle(
            world["a"],
            ("load", ()),
            ("update_reply", ("Here is a closer one.",)),
            ("send", ([_upload("closer.jpg", jpeg_bytes(3))],)),
        )
        assert "could not be sent" in state.error and "Nothing was kept" in state.error
        assert state.reply_text == "Here is a closer one." and not state.sending
        assert state.notice == ""
        sms = handle(world["a"], ("load", ()), ("change_sms", (False,)))
        assert "could not be saved" in sms.sms_error and sms.sms_consent
        assert sms.sms_notice == "" and sms.error == ""
    with tenant_session(w.a) as session:
        assert session.exec(select(Message).where(Message.direction == "inbound")).all() == []
        assert all(a.kind != "photo" for a in session.exec(select(MessageAttachment)))
        assert session.exec(select(SubmissionImage)).all() == images_before
        assert consent.current(session, w.a_patient, ConsentKind.SMS_OPT_IN)
    assert sorted(k for k, _ in get_store().listing("")) == objects_before
    with owner_session() as session:
        assert not session.exec(
            select(AuditEvent).where(
                col(AuditEvent.action).in_(["message.received", "consent.changed"])
            )
        ).all()
    again = handle(
        world["a"],
        ("load", ()),
        ("update_reply", ("Here is a closer one.",)),
        ("send", ([_upload("closer.jpg", jpeg_bytes(3))],)),
    )
    assert again.notice == "Your message was sent to the clinic." and again.error == ""
    with tenant_session(w.a) as session:
        assert len(session.exec(select(Message).where(Message.direction == "inbound")).all()) == 1
    assert audit.verify_chain(audit.chain_for(w.a)) is None
