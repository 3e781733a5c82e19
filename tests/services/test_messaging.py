"""Conversations: sending through the outbox, consent, templates, per-user reading, isolation."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import delete, select

from mi_portal.db import tenant_session
from mi_portal.models import (
    ConsentKind,
    Message,
    MessageThread,
    OutboxMessage,
    Patient,
    Role,
    ThreadRead,
)
from mi_portal.services import consent, message_templates, messaging
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.message_templates import TemplateProblem
from mi_portal.services.messaging import ConsentRefused
from tests.conftest import Database
from tests.factories import make_user, two_clinics


def _staff(tenant_id: uuid.UUID, role: Role = Role.COORDINATOR, name: str = "Sam Rivera") -> Actor:
    user_id, _ = make_user(
        f"{uuid.uuid4().hex[:8]}@staff.test", role=role.value, tenants=(tenant_id,)
    )
    return Actor(user_id=user_id, role=role, tenant_id=tenant_id)


def _set_patient(tenant_id: uuid.UUID, patient_id: uuid.UUID, **fields: object) -> None:
    with tenant_session(tenant_id) as session:
        patient = session.get(Patient, (tenant_id, patient_id))
        assert patient is not None
        for key, value in fields.items():
            setattr(patient, key, value)
        session.add(patient)
        session.commit()


def _opt(tenant_id: uuid.UUID, patient_id: uuid.UUID, kind: ConsentKind, granted: bool) -> None:
    with tenant_session(tenant_id) as session:
        consent.record(session, patient_id, kind, granted, source="staff")
        session.commit()


def test_an_email_is_stored_with_its_outbox_row_and_rendered(db: Database) -> None:
    w = two_clinics()
    staff = _staff(w.a)
    message_id = messaging.send_message(
        staff,
        w.a_submission,
        channel="email",
        subject="Your case {{ case.reference }}",
        body="Hello {{ patient.first_name }},\n\nreply here: {{ reply_link }}\n\n{{ staff.name }}",
    )
    with tenant_session(w.a) as session:
        message = session.get(Message, (w.a, uuid.UUID(message_id)))
        assert message is not None and message.direction == "outbound"
        assert message.body.startswith("Hello Alice,")
        row = session.exec(select(OutboxMessage)).one()
        assert row.message_id == message.id and row.status == "pending"
        assert row.subject == f"Your case {str(w.a_submission)[-8:].upper()}"
        assert "/m/" in row.body and "{{" not in row.body
        # Staff (and the thread) never see the patient's reply link: it is a credential.
        assert "/m/" not in message.body and messaging.REPLY_LINK_SHOWN in message.body
        assert row.body.endswith(messaging._names({staff.user_id})[staff.user_id])
        assert row.reply_to and row.reply_to.startswith("reply+" + w.a.hex + ".")
        thread = session.exec(select(MessageThread)).one()
        assert (
            messaging.thread_for_key(session, row.reply_to.split(".", 1)[1].split("@")[0]) == thread
        )


def test_unknown_variable_is_refused_before_anything_is_queued(db: Database) -> None:
    w = two_clinics()
    with pytest.raises(TemplateProblem, match="Unknown variable"):
        messaging.send_message(
            _staff(w.a),
            w.a_submission,
            channel="email",
            subject="Hi",
            body="{{ patient.last_name }}",
        )
    with pytest.raises(TemplateProblem):
        messaging.send_message(
            _staff(w.a), w.a_submission, channel="email", subject="Hi", body="{{ ''.__class__ }}"
        )
    with tenant_session(w.a) as session:
        assert session.exec(select(Message)).all() == []
        assert session.exec(select(OutboxMessage)).all() == []


def test_html_in_patient_fields_is_escaped_in_the_html_part(db: Database) -> None:
    w = two_clinics()
    _set_patient(w.a, w.a_patient, full_name="<b>Eve</b> X")
    messaging.send_message(
        _staff(w.a),
        w.a_submission,
        channel="email",
        subject="Hi",
        body="Dear {{ patient.first_name }}",
    )
    with tenant_session(w.a) as session:
        row = session.exec(select(OutboxMessage)).one()
    assert row.html_body is not None
    assert "<b>Eve</b>" not in row.html_body and "&lt;b&gt;Eve&lt;/b&gt;" in row.html_body
    assert "<b>Eve</b>" in row.body  # the text part is text


def test_sms_needs_a_current_opt_in(db: Database) -> None:
    w = two_clinics()
    staff = _staff(w.a)
    _set_patient(w.a, w.a_patient, phone="(202) 555-0143")
    with pytest.raises(ConsentRefused):
        messaging.send_message(staff, w.a_submission, channel="sms", subject="", body="Hi")
    _opt(w.a, w.a_patient, ConsentKind.SMS_OPT_IN, True)
    messaging.send_message(staff, w.a_submission, channel="sms", subject="", body="Hi")
    _opt(w.a, w.a_patient, ConsentKind.SMS_OPT_IN, False)
    with pytest.raises(ConsentRefused):
        messaging.send_message(staff, w.a_submission, channel="sms", subject="", body="Again")
    with tenant_session(w.a) as session:
        rows = session.exec(select(OutboxMessage)).all()
    assert [(r.channel, r.recipient) for r in rows] == [("sms", "+12025550143")]


def test_marketing_templates_need_marketing_consent(db: Database) -> None:
    w = two_clinics()
    owner = _staff(w.a, Role.CLINIC_OWNER)
    template = message_templates.save_template(
        owner, None, name="Offer", channel="email", subject="Offer", body="Hi", marketing=True
    )
    with pytest.raises(ConsentRefused):
        messaging.send_message(
            owner, w.a_submission, channel="email", subject="Offer", body="Hi", template_id=template
        )
    _opt(w.a, w.a_patient, ConsentKind.MARKETING_OPT_IN, True)
    messaging.send_message(
        owner, w.a_submission, channel="email", subject="Offer", body="Hi", template_id=template
    )


def test_templates_with_unknown_variables_are_not_saved(db: Database) -> None:
    w = two_clinics()
    owner = _staff(w.a, Role.CLINIC_OWNER)
    with pytest.raises(TemplateProblem):
        message_templates.save_template(
            owner, None, name="Bad", channel="email", subject="Hi", body="{{ patient.email }}"
        )
    with pytest.raises(PermissionDenied):
        message_templates.save_template(
            _staff(w.a), None, name="Bad", channel="email", subject="Hi", body="Hi"
        )


def test_reading_marks_inbound_read_for_that_user_only(db: Database) -> None:
    w = two_clinics()
    first, second = _staff(w.a), _staff(w.a)
    messaging.send_message(first, w.a_submission, channel="email", subject="Hi", body="Hello")
    with tenant_session(w.a) as session:
        thread = session.exec(select(MessageThread)).one()
        messaging.append_inbound(session, thread, channel="email", body="Thanks!")
        session.commit()
    assert messaging.conversation(first, w.a_submission).unread == 1
    assert messaging.conversation(first, w.a_submission).unread == 0
    assert messaging.conversation(second, w.a_submission).unread == 1


def test_the_marker_moves_to_the_newest_inbound_message_shown_and_never_back(
    db: Database,
) -> None:
    """Reading moves the user's marker to the newest inbound message the page showed; a later
    message is unread until shown; a message stamped before the marker (late to arrive) never
    moves it back."""
    w = two_clinics()
    reader = _staff(w.a)
    messaging.send_message(reader, w.a_submission, channel="email", subject="Hi", body="Hello")

    def inbound(body: str) -> Message:
        with tenant_session(w.a) as session:
            thread = session.exec(select(MessageThread)).one()
            message = messaging.append_inbound(session, thread, channel="email", body=body)
            assert message is not None
            session.commit()
            session.refresh(message)
            return message

    def marker() -> object:
        with tenant_session(w.a) as session:
            return session.exec(
                select(ThreadRead.read_until).where(ThreadRead.user_id == reader.user_id)
            ).one()

    inbound("One")
    second = inbound("Two")
    shown = messaging.conversation(reader, w.a_submission)
    assert shown.unread == 2 and [m.unread for m in shown.messages] == [False, True, True]
    assert marker() == second.created_at
    third = inbound("Three")
    assert messaging.conversation(reader, w.a_submission).unread == 1
    assert marker() == third.created_at
    with tenant_session(w.a) as session:
        late = session.exec(select(Message).where(Message.body == "One")).one()
        late.created_at = third.created_at.replace(year=third.created_at.year - 1)
        session.add(late)
        session.commit()
    assert messaging.conversation(reader, w.a_submission).unread == 0
    assert marker() == third.created_at


def test_another_clinics_case_and_thread_are_unreachable(db: Database) -> None:
    w = two_clinics()
    messaging.send_message(_staff(w.b), w.b_submission, channel="email", subject="B", body="B")
    staff_a = _staff(w.a)
    with pytest.raises(NotFound):
        messaging.conversation(staff_a, w.b_submission)
    with pytest.raises(NotFound):
        messaging.send_message(staff_a, w.b_submission, channel="email", subject="x", body="x")
    with tenant_session(w.a) as session:
        assert session.exec(select(MessageThread)).all() == []
        assert session.exec(select(OutboxMessage)).all() == []


def test_viewers_read_but_do_not_send(db: Database) -> None:
    w = two_clinics()
    viewer = _staff(w.a, Role.VIEWER)
    assert messaging.conversation(viewer, w.a_submission).can_send is False
    with pytest.raises(PermissionDenied):
        messaging.send_message(viewer, w.a_submission, channel="email", subject="x", body="x")


def test_a_renewed_key_retires_old_addresses_and_links(db: Database) -> None:
    w = two_clinics()
    messaging.send_message(_staff(w.a), w.a_submission, channel="email", subject="Hi", body="x")
    with tenant_session(w.a) as session:
        thread = session.exec(select(MessageThread)).one()
        old_key = messaging.current_key(thread)
        link = messaging.reply_link(thread)
        messaging.renew_reply_key(session, thread)
        session.commit()
        assert messaging.thread_for_key(session, old_key) is None
        assert messaging.thread_for_key(session, messaging.current_key(thread)) == thread
    opened = messaging.open_reply_token(link.rsplit("/", 1)[1])
    assert opened == (w.a, old_key)
    assert messaging.open_reply_token(link.rsplit("/", 1)[1] + "x") is None


def test_an_sms_waiting_when_the_patient_opts_out_is_never_sent(db: Database) -> None:
    from mi_portal.config import get_settings
    from mi_portal.services import outbox

    w = two_clinics()
    staff = _staff(w.a)
    _set_patient(w.a, w.a_patient, phone="+12025550143")
    _opt(w.a, w.a_patient, ConsentKind.SMS_OPT_IN, True)
    messaging.send_message(staff, w.a_submission, channel="sms", subject="", body="First")
    assert outbox.deliver_once().sent == 1
    messaging.send_message(staff, w.a_submission, channel="sms", subject="", body="Second")
    _opt(w.a, w.a_patient, ConsentKind.SMS_OPT_IN, False)  # STOP arrives while it waits
    counts = outbox.deliver_once()
    assert (counts.withdrawn, counts.sent) == (1, 0)
    with tenant_session(w.a) as session:
        rows = {r.body: r for r in session.exec(select(OutboxMessage))}
    assert rows["First"].status == "sent"
    assert rows["Second"].status == "failed" and rows["Second"].last_error == outbox.OPTED_OUT
    sent = list((get_settings().data_dir / "sms").glob("*.json"))
    assert len(sent) == 1 and "Second" not in sent[0].read_text()


@pytest.mark.parametrize(
    "body",
    [
        "{{ 'x' * 100000000 }}",
        "{{ range(100001) | list }}",
        "{% for i in range(10) %}{{ i }}{% endfor %}",
        "{{ patient.first_name | upper }}",
        "{{ patient.first_name() }}",
    ],
)
def test_templates_hold_placeholders_and_nothing_else(db: Database, body: str) -> None:
    w = two_clinics()
    with pytest.raises(TemplateProblem, match="Only placeholders"):
        messaging.send_message(
            _staff(w.a), w.a_submission, channel="email", subject="Hi", body=body
        )
    with tenant_session(w.a) as session:
        assert session.exec(select(OutboxMessage)).all() == []


def test_a_stop_after_the_batch_was_claimed_still_stops_that_text(db: Database) -> None:
    from datetime import timedelta

    from mi_portal.services import clock, outbox

    w = two_clinics()
    staff = _staff(w.a)
    _set_patient(w.a, w.a_patient, phone="+12025550143")
    _opt(w.a, w.a_patient, ConsentKind.SMS_OPT_IN, True)
    messaging.send_message(staff, w.a_submission, channel="sms", subject="", body="Claimed")
    with tenant_session(w.a) as session:
        now = clock.now()
        (claimed,) = outbox._claim(session, now, "worker-1", 10, timedelta(minutes=5))
        session.commit()
        _opt(w.a, w.a_patient, ConsentKind.SMS_OPT_IN, False)  # STOP lands mid-batch
        start = {
            "tenant": w.a,
            "claim": "worker-1",
            "row": uuid.UUID(claimed[0].id),
            "until": now + timedelta(minutes=5),
        }
        assert outbox._step(session, None, start, sms=True) is False
    with tenant_session(w.a) as session:
        row = session.exec(select(OutboxMessage)).one()
    assert row.status == "failed" and row.last_error == outbox.OPTED_OUT


def test_only_the_clinics_first_message_sets_the_first_reply_time(db: Database) -> None:
    from datetime import UTC, datetime

    from mi_portal.models import Submission
    from mi_portal.services import clock

    w = two_clinics()
    staff = _staff(w.a)
    first, later = datetime(2026, 12, 7, 15, tzinfo=UTC), datetime(2026, 12, 8, 9, tzinfo=UTC)

    def answered() -> datetime | None:
        with tenant_session(w.a) as session:
            case = session.get(Submission, (w.a, w.a_submission))
            assert case is not None
            return case.first_response_at

    try:
        # The patient writing first is not the clinic's reply.
        with tenant_session(w.a) as session:
            case = session.get(Submission, (w.a, w.a_submission))
            assert case is not None
            thread = messaging.thread_for_case(session, case)
            messaging.append_inbound(session, thread, channel="email", body="Any news?")
            session.commit()
        assert answered() is None
        clock.set_clock(lambda: first)
        messaging.send_message(staff, w.a_submission, channel="email", subject="Hi", body="Hello")
        assert answered() == first
        clock.set_clock(lambda: later)
        messaging.send_message(staff, w.a_submission, channel="email", subject="Re", body="More")
        assert answered() == first
    finally:
        clock.set_clock(None)
    with tenant_session(w.b) as session:
        other = session.get(Submission, (w.b, w.b_submission))
        assert other is not None and other.first_response_at is None


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_two_tabs_marking_the_same_thread_at_once_both_succeed(db: Database) -> None:
    """Both tabs found no marker; the second to write meets the first's row and moves it, in
    its own transaction, without an error and never backwards."""
    from datetime import timedelta

    w = two_clinics()
    reader = _staff(w.a)
    messaging.send_message(reader, w.a_submission, channel="email", subject="Hi", body="Hello")
    with tenant_session(w.a) as session:
        thread = session.exec(select(MessageThread)).one()
        message = messaging.append_inbound(session, thread, channel="email", body="One")
        assert message is not None
        session.commit()
        session.refresh(message)
        thread_id, newest = thread.id, message.created_at
    assert reader.user_id is not None
    earlier = newest - timedelta(minutes=1)
    for first, second, kept in ((newest, earlier, newest), (earlier, newest, newest)):
        with tenant_session(w.a) as session:
            session.exec(delete(ThreadRead))  # type: ignore[call-overload]
            session.commit()
        with tenant_session(w.a) as one, tenant_session(w.a) as other:
            messaging.mark_read(one, thread_id, reader.user_id, first)
            one.commit()
            messaging.mark_read(other, thread_id, reader.user_id, second)
            other.commit()
        with tenant_session(w.a) as session:
            assert session.exec(select(ThreadRead.read_until)).all() == [kept]
