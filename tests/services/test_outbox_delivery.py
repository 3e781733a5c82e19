"""Outbox delivery against real servers: aiosmtpd and an SMS provider on loopback.

Exactly-once is counted the way a recipient would: by the Message-IDs that arrived.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from mi_portal.config import get_settings, reset_settings
from mi_portal.db import platform_session, tenant_session
from mi_portal.models import AuditEvent, OutboxMessage, OutboxStatus, Role, Tenant
from mi_portal.services import channels, clock, delivery_status, outbox
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from tests.conftest import Database
from tests.factories import make_tenant, make_user
from tests.mail_servers import (
    MailServer,
    SmsProvider,
    running_mail_server,
    running_sms_provider,
    self_signed_certificate,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def fake_clock() -> Iterator[Clock]:
    moving = Clock()
    clock.set_clock(moving)
    yield moving
    clock.set_clock(None)


@pytest.fixture
def mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    with running_mail_server() as server:
        monkeypatch.setenv("MI_MAIL", server.url)
        reset_settings()
        yield server


@pytest.fixture
def sms_provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmsProvider]:
    with running_sms_provider() as provider:
        monkeypatch.setenv("MI_SMS", provider.url)
        reset_settings()
        yield provider


def queue(
    tenant_id: uuid.UUID,
    n: int = 1,
    *,
    channel: str = "email",
    recipient: str = "pat@example.org",
    html: bool = False,
) -> list[uuid.UUID]:
    ids = []
    with tenant_session(tenant_id) as session:
        for i in range(n):
            row = outbox.enqueue(
                session,
                channel=channel,
                recipient=recipient,
                subject=f"Your consultation {i}" if channel == "email" else "",
                body=f"Hello, this is message {i}.",
                html_body=f"<p>Hello, this is <b>message {i}</b>.</p>" if html else None,
                reply_to="reply+k3y@reply.mi-portal.test" if html else None,
            )
            ids.append(row.id)
        session.commit()
    return ids


def rows(tenant_id: uuid.UUID) -> dict[uuid.UUID, OutboxMessage]:
    with tenant_session(tenant_id) as session:
        found = session.exec(select(OutboxMessage)).all()
        for row in found:
            session.expunge(row)
    return {row.id: row for row in found}


# ---- email -----------------------------------------------------------------------------------


def test_email_reaches_the_smtp_server_with_its_headers_and_both_parts(
    db: Database, mail_server: MailServer
) -> None:
    clinic = make_tenant("clinic-a")
    (row_id,) = queue(clinic, html=True)

    counts = outbox.deliver_once()

    assert (counts.claimed, counts.sent) == (1, 1)
    (message,) = mail_server.messages
    row = rows(clinic)[row_id]
    assert message["Message-ID"] == row.header_id
    assert message["From"] == get_settings().mail_from
    assert message["To"] == "pat@example.org"
    assert message["Reply-To"] == "reply+k3y@reply.mi-portal.test"
    assert message["Subject"] == "Your consultation 0"
    assert message["Date"]
    assert mail_server.envelopes == [("no-reply@mi-portal.test", ["pat@example.org"])]
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and "Hello, this is message 0." in plain.get_content()
    assert html is not None and "<b>message 0</b>" in html.get_content()
    assert row.status == OutboxStatus.SENT
    assert row.sent_at is not None and row.attempts == 1 and row.last_error is None


def test_a_batch_goes_over_one_connection_and_other_clinics_keep_their_rows(
    db: Database, mail_server: MailServer
) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    queue(a, 3)
    queue(b, 2)

    counts = outbox.deliver_once(batch=10)

    assert counts.sent == 5
    assert len(mail_server.ids()) == 5
    assert {r.status for r in rows(a).values()} == {OutboxStatus.SENT}
    assert {r.status for r in rows(b).values()} == {OutboxStatus.SENT}


def test_a_suspended_clinics_outbox_waits_until_it_is_reactivated(
    db: Database, mail_server: MailServer
) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    (held,) = queue(a)
    queue(b)
    _set_active(a, False)

    assert outbox.deliver_once().sent == 1  # clinic B's only
    assert rows(a)[held].status == OutboxStatus.PENDING and rows(a)[held].attempts == 0

    _set_active(a, True)
    assert outbox.deliver_once().sent == 1
    assert rows(a)[held].status == OutboxStatus.SENT
    assert len(mail_server.ids()) == 2


def _set_active(tenant_id: uuid.UUID, active: bool) -> None:
    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.active = active
        tenant.status = "active" if active else "suspended"
        session.add(tenant)
        session.commit()


def test_server_down_retries_with_backoff_then_delivers_exactly_once(
    db: Database, fake_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = MailServer()  # not started: connections are refused
    monkeypatch.setenv("MI_MAIL", server.url)
    reset_settings()
    clinic = make_tenant("clinic-a")
    (row_id,) = queue(clinic)

    first = outbox.deliver_once()
    row = rows(clinic)[row_id]
    assert (first.retrying, row.status, row.attempts) == (1, OutboxStatus.PENDING, 1)
    assert row.next_attempt_at is not None
    wait1 = row.next_attempt_at - T0
    assert timedelta(seconds=24) <= wait1 <= timedelta(seconds=36)  # 30 s ± 20 %
    assert row.last_error and "mail server" in row.last_error

    assert outbox.deliver_once().claimed == 0  # not due yet

    fake_clock.advance(seconds=40)
    assert outbox.deliver_once().retrying == 1
    row = rows(clinic)[row_id]
    assert row.attempts == 2 and row.next_attempt_at is not None
    wait2 = row.next_attempt_at - fake_clock.now
    assert timedelta(seconds=48) <= wait2 <= timedelta(seconds=72)  # doubled

    server.start()
    try:
        fake_clock.advance(seconds=80)
        assert outbox.deliver_once().sent == 1
        fake_clock.advance(hours=2)
        assert outbox.deliver_once().claimed == 0
    finally:
        server.stop()
    assert list(server.ids().values()) == [1]
    row = rows(clinic)[row_id]
    assert row.status == OutboxStatus.SENT and row.attempts == 3


def test_after_the_last_attempt_the_row_fails_with_a_plain_reason(
    db: Database, fake_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MI_MAIL", MailServer().url)
    reset_settings()
    clinic = make_tenant("clinic-a")
    (row_id,) = queue(clinic, recipient="secret.person@example.org")

    for _ in range(outbox.MAX_ATTEMPTS):
        outbox.deliver_once()
        fake_clock.advance(hours=3)

    row = rows(clinic)[row_id]
    assert row.status == OutboxStatus.FAILED and row.attempts == outbox.MAX_ATTEMPTS
    assert row.last_error and row.last_error.startswith("gave up after 6 attempts")
    assert "secret.person" not in row.last_error and "Hello" not in row.last_error
    assert outbox.deliver_once().claimed == 0


def test_a_refused_recipient_fails_at_once_and_a_deferred_one_is_retried(
    db: Database, mail_server: MailServer, fake_clock: Clock
) -> None:
    clinic = make_tenant("clinic-a")
    mail_server.refuse.add("gone@example.org")
    mail_server.defer.add("busy@example.org")
    (gone,) = queue(clinic, recipient="gone@example.org")
    (busy,) = queue(clinic, recipient="busy@example.org")
    (fine,) = queue(clinic, recipient="fine@example.org")

    counts = outbox.deliver_once()

    assert (counts.sent, counts.failed, counts.retrying) == (1, 1, 1)
    found = rows(clinic)
    assert found[gone].status == OutboxStatus.FAILED
    assert found[gone].last_error == "The mail server refused the recipient (550)."
    assert found[busy].status == OutboxStatus.PENDING and found[busy].attempts == 1
    assert found[fine].status == OutboxStatus.SENT
    assert list(mail_server.ids()) == [found[fine].header_id]


def test_lapsed_claims_go_back_to_the_queue_and_a_lapsed_send_is_never_repeated(
    db: Database, mail_server: MailServer, fake_clock: Clock
) -> None:
    clinic = make_tenant("clinic-a")
    claimed, sending = queue(clinic, 2)
    with tenant_session(clinic) as session:
        for row_id, status in ((claimed, "claimed"), (sending, "sending")):
            row = session.get(OutboxMessage, (clinic, row_id))
            assert row is not None
            row.status, row.claimed_by = status, "dead-worker#1"
            row.claimed_until = T0 + timedelta(seconds=30)
            session.add(row)
        session.commit()

    assert outbox.deliver_once().claimed == 0  # the dead worker's lease still holds
    fake_clock.advance(seconds=31)
    counts = outbox.deliver_once()

    assert (counts.released, counts.uncertain, counts.sent) == (1, 1, 1)
    found = rows(clinic)
    assert found[claimed].status == OutboxStatus.SENT
    assert found[sending].status == OutboxStatus.FAILED
    assert found[sending].last_error == outbox.UNCERTAIN
    assert list(mail_server.ids()) == [found[claimed].header_id]


def _worker(*extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mi_portal", "outbox", "deliver", *extra],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def test_a_worker_killed_mid_batch_and_restarted_sends_every_message_once(
    db: Database, mail_server: MailServer
) -> None:
    clinic = make_tenant("clinic-a")
    ids = queue(clinic, 12)
    mail_server.stall_on = 5
    lease = 3.0

    first = _worker("--batch", "8", "--lease", str(lease), "--sleep", "0.2")
    try:
        assert mail_server.stalled.wait(60), "the worker never reached the stalled message"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    mail_server.release.set()
    mail_server.wait_for(5)
    time.sleep(lease + 0.5)  # the killed worker's claims lapse

    second = _worker("--once", "--batch", "100", "--lease", str(lease))
    output, _ = second.communicate(timeout=60)
    assert second.returncode == 0, output.decode(errors="replace")
    assert "@" not in output.decode()  # counts only, never an address

    found = rows(clinic)
    received = mail_server.ids()
    assert set(received.values()) == {1}, "a message arrived twice"
    assert set(received) == {r.header_id for r in found.values()}, (
        output.decode(),
        [
            (ids.index(r.id), r.status, r.last_error, r.header_id in received)
            for r in found.values()
        ],
    )
    stalled = found[ids[4]]
    assert stalled.status == OutboxStatus.FAILED and stalled.last_error == outbox.UNCERTAIN
    assert {found[i].status for i in ids if i != ids[4]} == {OutboxStatus.SENT}


def test_two_workers_on_postgresql_share_500_rows_without_a_duplicate(
    pg: Database, mail_server: MailServer
) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    queue(a, 300)
    queue(b, 200)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            while outbox.deliver_once(batch=10, worker_id=name).claimed:
                pass
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(f"worker-{i}",)) for i in (1, 2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(120)

    assert not errors
    received = mail_server.ids()
    assert len(received) == 500 and set(received.values()) == {1}
    found = {**rows(a), **rows(b)}
    assert {r.status for r in found.values()} == {OutboxStatus.SENT}
    by = {str(r.claimed_by).split("#")[0] for r in found.values()}
    assert by == {"worker-1", "worker-2"}


# ---- SMS -------------------------------------------------------------------------------------


def test_sms_posts_the_rest_shape_and_stores_the_providers_id(
    db: Database, sms_provider: SmsProvider
) -> None:
    clinic = make_tenant("clinic-a")
    (row_id,) = queue(clinic, channel="sms", recipient="+1 202 555 0123")

    assert outbox.deliver_once().sent == 1

    (post,) = sms_provider.posts
    row = rows(clinic)[row_id]
    assert post.path == f"/2010-04-01/Accounts/{sms_provider.account}/Messages.json"
    assert (post.account, post.token) == (sms_provider.account, sms_provider.token)
    assert post.idempotency_key == row.header_id
    assert post.form["To"] == "+12025550123"
    assert post.form["From"] == get_settings().sms_from
    assert post.form["Body"] == "Hello, this is message 0."
    callback = post.form["StatusCallback"]
    assert callback.startswith(get_settings().frontend_origin + "/api/inbound/sms/status?o=")
    token = re.sub(r"^.*\?o=", "", callback)
    assert delivery_status.read_status_token(token) == (clinic, row_id)
    assert delivery_status.read_status_token(token[:-2]) is None
    assert row.status == OutboxStatus.SENT and row.provider_ref == "SM" + f"{1:032x}"

    assert outbox.mark_status(clinic, row_id, "delivered")
    row = rows(clinic)[row_id]
    assert row.status == OutboxStatus.DELIVERED and row.delivered_at is not None


def test_sms_provider_errors_500_is_retried_and_400_fails(
    db: Database, sms_provider: SmsProvider, fake_clock: Clock
) -> None:
    clinic = make_tenant("clinic-a")
    sms_provider.answers.extend([500, 429])
    (row_id,) = queue(clinic, channel="sms", recipient="+12025550123")

    assert outbox.deliver_once().retrying == 1
    fake_clock.advance(minutes=5)
    assert outbox.deliver_once().retrying == 1
    fake_clock.advance(minutes=5)
    assert outbox.deliver_once().sent == 1
    assert rows(clinic)[row_id].status == OutboxStatus.SENT
    keys = {p.idempotency_key for p in sms_provider.posts}
    assert len(sms_provider.posts) == 3 and keys == {rows(clinic)[row_id].header_id}

    sms_provider.answers.append(400)
    (bad,) = queue(clinic, channel="sms", recipient="+12025550124")
    assert outbox.deliver_once().failed == 1
    row = rows(clinic)[bad]
    assert row.status == OutboxStatus.FAILED
    assert row.last_error == "The SMS provider refused the message (400)."


def test_status_reports_only_touch_rows_handed_to_the_provider(
    db: Database, sms_provider: SmsProvider
) -> None:
    clinic, other = make_tenant("clinic-a"), make_tenant("clinic-b")
    (waiting,) = queue(clinic, channel="sms", recipient="+12025550123")
    assert not outbox.mark_status(clinic, waiting, "delivered")  # never sent yet
    outbox.deliver_once()
    assert not outbox.mark_status(other, waiting, "delivered")  # another clinic's row
    assert not outbox.mark_status(clinic, waiting, "queued")
    assert outbox.mark_status(clinic, waiting, "undelivered")
    row = rows(clinic)[waiting]
    assert row.status == OutboxStatus.FAILED and row.last_error == outbox.PROVIDER_FAILED


# ---- files -----------------------------------------------------------------------------------


def test_file_transports_write_private_eml_and_json_files(db: Database, tmp_path: Path) -> None:
    settings = get_settings()
    clinic = make_tenant("clinic-a")
    (mail_id,) = queue(clinic, html=True)
    (sms_id,) = queue(clinic, channel="sms", recipient="+12025550123")

    assert outbox.deliver_once().sent == 2

    found = rows(clinic)
    mail_dir, sms_dir = settings.data_dir / "mail", settings.data_dir / "sms"
    (eml,) = mail_dir.iterdir()
    (sms,) = sms_dir.iterdir()
    for folder in (mail_dir, sms_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in (eml, sms):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert eml.suffix == ".eml" and sms.suffix == ".json"
    assert found[mail_id].header_id.strip("<>") in eml.name
    import email
    import email.policy

    parsed = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == found[mail_id].header_id
    record = json.loads(sms.read_text())
    assert record["To"] == "+12025550123" and record["Body"] == "Hello, this is message 0."
    assert found[sms_id].status == OutboxStatus.SENT


# ---- staff retry -----------------------------------------------------------------------------


def test_staff_retry_a_failed_delivery_and_it_is_audited(
    db: Database, sms_provider: SmsProvider
) -> None:
    clinic, other = make_tenant("clinic-a"), make_tenant("clinic-b")
    sms_provider.answers.append(400)
    (row_id,) = queue(clinic, channel="sms", recipient="+12025550123")
    outbox.deliver_once()
    manager, _ = make_user("m@clinic-a.test", role="clinic_manager", tenants=(clinic,))
    viewer, _ = make_user("v@clinic-a.test", role="viewer", tenants=(clinic,))
    stranger, _ = make_user("s@clinic-b.test", role="clinic_manager", tenants=(other,))

    with pytest.raises(PermissionDenied):
        outbox.retry(Actor(user_id=viewer, role=Role.VIEWER, tenant_id=clinic), row_id)
    with pytest.raises(NotFound):
        outbox.retry(Actor(user_id=stranger, role=Role.CLINIC_MANAGER, tenant_id=other), row_id)
    actor = Actor(user_id=manager, role=Role.CLINIC_MANAGER, tenant_id=clinic)
    outbox.retry(actor, row_id)
    with pytest.raises(ValueError, match="Only a failed delivery"):
        outbox.retry(actor, row_id)

    row = rows(clinic)[row_id]
    assert row.status == OutboxStatus.PENDING and row.attempts == 0 and row.last_error is None
    assert outbox.deliver_once().sent == 1
    with tenant_session(clinic) as session:
        events = session.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "message.retry")
        ).all()
    assert [(e.target_id, e.user_id) for e in events] == [(str(row_id), manager)]


# ---- one way out -----------------------------------------------------------------------------


def test_only_the_channels_module_opens_smtp_or_http_connections() -> None:
    package = ROOT / "mi_portal"
    pattern = re.compile(r"^\s*(import|from)\s+(smtplib|httpx|requests|urllib\.request)\b", re.M)
    offenders = [
        str(path.relative_to(ROOT))
        for path in package.rglob("*.py")
        if pattern.search(path.read_text()) and path != package / "services" / "channels.py"
    ]
    assert offenders == []
    assert pattern.search((package / "services" / "channels.py").read_text())


# aiosmtpd counts only STARTTLS as TLS and warns about AUTH on its (encrypted) implicit-TLS port.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_email_over_tls_with_a_sign_in(
    db: Database, tls: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certificate = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # the client trusts this server
    server = MailServer(tls=tls, certificate=certificate, login=("mailer", "p@ss word")).start()
    try:
        monkeypatch.setenv("MI_MAIL", server.url)
        reset_settings()
        clinic = make_tenant("clinic-a")
        queue(clinic, 2)
        assert outbox.deliver_once().sent == 2

        server.login = ("mailer", "another password")  # a wrong password is not the message's fault
        queue(clinic, 1)
        counts = outbox.deliver_once()
    finally:
        server.stop()
    assert len(server.ids()) == 2
    assert counts.retrying == 1


def test_a_kept_connection_the_server_dropped_is_reopened_without_a_failed_try(
    db: Database, mail_server: MailServer
) -> None:
    clinic = make_tenant("clinic-a")
    kept = channels.Transports()
    try:
        queue(clinic, 2)
        assert outbox.deliver_once(transports=kept).sent == 2
        mail_server.stop()  # closes the connection the transport keeps
        mail_server.start()
        queue(clinic, 2)
        counts = outbox.deliver_once(transports=kept)
    finally:
        kept.close()
    assert (counts.sent, counts.retrying) == (2, 0)
    assert len(mail_server.ids()) == 4
    assert mail_server.greetings == 2  # one connection per server life, reused for each batch


def test_the_in_process_worker_runs_once_per_process_and_can_be_switched_off(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MI_OUTBOX_IN_PROCESS", "0")
    assert outbox.start_in_process_worker() is None
    monkeypatch.setenv("MI_OUTBOX_IN_PROCESS", "1")
    clinic = make_tenant("clinic-a")
    (row_id,) = queue(clinic)
    try:
        thread = outbox.start_in_process_worker()
        assert thread is not None and thread.daemon
        assert outbox.start_in_process_worker() is thread
        deadline = time.monotonic() + 20
        while rows(clinic)[row_id].status != OutboxStatus.SENT and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        outbox.stop_in_process_worker()
    assert not thread.is_alive()
    assert rows(clinic)[row_id].status == OutboxStatus.SENT
    assert len(list((get_settings().data_dir / "mail").glob("*.eml"))) == 1
    monkeypatch.delenv("MI_OUTBOX_IN_PROCESS")
    assert outbox.in_process_enabled() == (db.kind == "sqlite")


def test_an_unusable_mail_setting_keeps_the_rows_waiting(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MI_MAIL", "smtp://127.0.0.1:25?tls=sometimes")
    reset_settings()
    clinic = make_tenant("clinic-a")
    (row_id,) = queue(clinic)

    assert outbox.deliver_once().retrying == 1
    row = rows(clinic)[row_id]
    assert row.status == OutboxStatus.PENDING
    assert row.last_error == "MI_MAIL cannot be used; will try again."


def test_the_app_lifespan_starts_and_stops_the_in_process_worker(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    monkeypatch.setenv("MI_OUTBOX_IN_PROCESS", "1")

    async def lifespan() -> threading.Thread | None:
        async with outbox.in_process_lifespan():
            thread = outbox.start_in_process_worker()
            assert thread is not None and thread.is_alive()
        return thread

    thread = asyncio.run(lifespan())
    assert thread is not None and not thread.is_alive()
