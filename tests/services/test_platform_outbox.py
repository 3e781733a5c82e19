"""The platform's own outbox: email only, delivered by the same worker and state machine as a
clinic's rows, and never part of any clinic's outbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import select

from mi_portal.config import reset_settings
from mi_portal.db import platform_session, tenant_session
from mi_portal.models import OutboxMessage, OutboxStatus, PlatformOutboxMessage
from mi_portal.services import outbox
from tests.clocks import Clock
from tests.conftest import Database
from tests.factories import make_tenant
from tests.mail_servers import MailServer, running_mail_server


@pytest.fixture
def mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    with running_mail_server() as server:
        monkeypatch.setenv("MI_MAIL", server.url)
        reset_settings()
        yield server


def queue_platform(n: int = 1, recipient: str = "Someone@Example.org") -> list[uuid.UUID]:
    with platform_session() as session:
        ids = [
            outbox.enqueue_platform(
                session,
                channel="email",
                recipient=recipient,
                subject=f"Your request {i}",
                body=f"Your code is 12345{i}.",
            ).id
            for i in range(n)
        ]
        session.commit()
    return ids


def platform_rows() -> dict[uuid.UUID, PlatformOutboxMessage]:
    with platform_session() as session:
        found = session.exec(select(PlatformOutboxMessage)).all()
        for row in found:
            session.expunge(row)
    return {row.id: row for row in found}


def test_a_platform_email_reaches_the_smtp_server(db: Database, mail_server: MailServer) -> None:
    make_tenant("clinic-a")
    (row_id,) = queue_platform()

    counts = outbox.deliver_once()

    assert (counts.claimed, counts.sent) == (1, 1)
    (message,) = mail_server.messages
    row = platform_rows()[row_id]
    assert message["Message-ID"] == row.header_id
    assert message["To"] == "someone@example.org"
    assert message["Subject"] == "Your request 0"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "Your code is 123450." in body.get_content()
    assert row.status == OutboxStatus.SENT and row.attempts == 1 and row.sent_at is not None
    # The code went out; the table keeps no copy of it.
    assert "123450" not in row.body and row.body == outbox.SENT_TEXT_FORGOTTEN
    assert row.html_body is None
    assert outbox.deliver_once().claimed == 0  # sent once, never again


def test_platform_rows_are_in_no_clinics_outbox_and_clinic_rows_still_go(
    db: Database, mail_server: MailServer
) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    queue_platform(2)
    with tenant_session(a) as session:
        outbox.enqueue(session, channel="email", recipient="pat@example.org", body="Hello")
        session.commit()

    for clinic in (a, b):
        with tenant_session(clinic) as session:
            recipients = {r.recipient for r in session.exec(select(OutboxMessage)).all()}
        assert "someone@example.org" not in recipients

    counts = outbox.deliver_once()

    assert counts.sent == 3
    assert sorted(m["To"] for m in mail_server.messages) == [
        "pat@example.org",
        "someone@example.org",
        "someone@example.org",
    ]
    with tenant_session(b) as session:
        assert session.exec(select(OutboxMessage)).all() == []


def test_a_lapsed_platform_claim_is_recovered_and_a_lapsed_send_never_repeated(
    db: Database, mail_server: MailServer, fake_clock: Clock
) -> None:
    claimed, sending = queue_platform(2)
    with platform_session() as session:
        for row_id, status in ((claimed, "claimed"), (sending, "sending")):
            row = session.get(PlatformOutboxMessage, row_id)
            assert row is not None
            row.status, row.claimed_by = status, "dead-worker#1"
            row.claimed_until = fake_clock.now + timedelta(seconds=30)
            session.add(row)
        session.commit()

    assert outbox.deliver_once().claimed == 0  # the dead worker's lease still holds
    fake_clock.advance(seconds=31)
    counts = outbox.deliver_once()

    assert (counts.released, counts.uncertain, counts.sent) == (1, 1, 1)
    found = platform_rows()
    assert found[claimed].status == OutboxStatus.SENT
    assert found[sending].status == OutboxStatus.FAILED
    assert found[sending].last_error == outbox.UNCERTAIN
    assert list(mail_server.ids()) == [found[claimed].header_id]


def test_a_down_server_is_retried_with_backoff(
    db: Database, fake_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = MailServer()  # not started: connections are refused
    monkeypatch.setenv("MI_MAIL", server.url)
    reset_settings()
    (row_id,) = queue_platform()

    assert outbox.deliver_once().retrying == 1
    row = platform_rows()[row_id]
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at is not None and row.next_attempt_at > fake_clock.now
    assert outbox.deliver_once().claimed == 0  # not due yet

    server.start()
    try:
        fake_clock.advance(hours=1)
        assert outbox.deliver_once().sent == 1
    finally:
        server.stop()
    assert platform_rows()[row_id].status == OutboxStatus.SENT
    assert list(server.ids().values()) == [1]


def test_the_platform_sends_no_text_messages(db: Database) -> None:
    with platform_session() as session, pytest.raises(ValueError, match="email only"):
        outbox.enqueue_platform(session, channel="sms", recipient="+12025550143", body="Hi")
    with platform_session() as session, pytest.raises(ValueError):
        outbox.enqueue_platform(session, channel="email", recipient="not an address", body="Hi")
    assert platform_rows() == {}


def test_finished_platform_emails_go_a_month_after_they_were_queued(
    db: Database, mail_server: MailServer, fake_clock: Clock
) -> None:
    sent, waiting = queue_platform(2)
    with platform_session() as session:
        row = session.get(PlatformOutboxMessage, waiting)
        assert row is not None
        row.next_attempt_at = fake_clock.now + timedelta(days=60)  # not due: stays pending
        session.add(row)
        session.commit()
    outbox.deliver_once()
    assert platform_rows()[sent].status == OutboxStatus.SENT.value
    fake_clock.advance(days=29)
    assert outbox.prune_platform() == 0
    fake_clock.advance(days=2)
    assert outbox.prune_platform() == 1
    assert list(platform_rows()) == [waiting]  # a delivery still to make is never dropped
