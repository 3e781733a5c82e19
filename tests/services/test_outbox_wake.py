"""An idle outbox worker looks only at the outboxes announced to it, and at all now and then.

Before, every round (every two seconds) looked at every clinic's outbox: at 25 clinics that was
a third of the app's CPU at light load. A committed row now announces its outbox (PostgreSQL
NOTIFY, heard by whichever worker delivers); a rolled-back one does not.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest

from mi_portal.db import get_engine, platform_session, tenant_session
from mi_portal.models import OutboxMessage, OutboxStatus, Role
from mi_portal.services import clock, outbox, outbox_wake
from mi_portal.services.actor import Actor
from tests.conftest import Database
from tests.factories import make_tenant, make_user
from tests.services.test_outbox_delivery import queue, rows


def _wait(condition: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def heard(db: Database) -> Iterator[outbox_wake.Wakeups]:
    """A listener of its own on PostgreSQL, as the delivering worker runs it."""
    wakeups = outbox_wake.Wakeups()
    stop = threading.Event()
    listener = threading.Thread(target=outbox_wake.listen, args=(get_engine(), wakeups, stop))
    listener.start()
    assert _wait(lambda: wakeups.take()[1])  # connected: everything is looked at once
    yield wakeups
    stop.set()
    listener.join(10)
    assert not listener.is_alive()


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_committed_row_announces_its_clinic_and_a_rolled_back_one_does_not(
    heard: outbox_wake.Wakeups,
) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    with tenant_session(b) as session:
        outbox.enqueue(session, channel="email", recipient="pat@example.org", body="never sent")
        session.rollback()
    queue(a)
    with platform_session() as session:
        outbox.enqueue_platform(
            session, channel="email", recipient="requester@example.org", body="your code"
        )
        session.commit()
    announced: set[str] = set()

    def both() -> bool:
        announced.update(heard.take()[0])
        return announced >= {str(a), "platform"}

    assert _wait(both)
    time.sleep(0.3)  # anything else would have arrived by now
    announced.update(heard.take()[0])
    assert announced == {str(a), "platform"}  # an id, never an address; nothing of b's


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_sending_a_failed_message_again_announces_it(heard: outbox_wake.Wakeups) -> None:
    a = make_tenant("clinic-a")
    (row_id,) = queue(a)
    assert _wait(lambda: str(a) in heard.take()[0])
    with tenant_session(a) as session:
        row = session.get(OutboxMessage, (a, row_id))
        assert row is not None
        row.status = OutboxStatus.FAILED.value
        session.add(row)
        session.commit()
    user_id, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    manager = Actor(user_id=user_id, role=Role.CLINIC_MANAGER, tenant_id=a)
    outbox.retry(manager, row_id)
    assert _wait(lambda: str(a) in heard.take()[0])


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_the_idle_worker_looks_only_where_it_was_woken(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the sweep of every outbox an hour away, a new row is still sent within moments,
    and rounds without an announcement look at no clinic's outbox at all."""
    monkeypatch.setattr(outbox, "FULL_SWEEP_SECONDS", 3600.0)
    clinics = [make_tenant(f"clinic-{n}") for n in range(4)]
    looked: list[uuid.UUID | None] = []
    real = outbox._deliver

    def counting(tenant_id: uuid.UUID | None, **kwargs: object) -> outbox.Counts:
        looked.append(tenant_id)
        return real(tenant_id, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(outbox, "_deliver", counting)
    stop = threading.Event()
    worker = threading.Thread(target=outbox.run, kwargs={"stop": stop, "idle_sleep": 0.05})
    worker.start()
    try:
        # The first round looks everywhere (nothing was heard before the worker started).
        assert _wait(lambda: set(clinics) <= set(looked))
        time.sleep(1.0)  # about twenty idle rounds
        looked.clear()
        time.sleep(1.0)
        assert looked == []
        (row_id,) = queue(clinics[2])
        assert _wait(lambda: rows(clinics[2])[row_id].status == OutboxStatus.SENT, 10)
        assert set(looked) == {clinics[2]}
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_on_the_embedded_database_every_round_looks_everywhere(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process, a few clinics: no listener, and a row written behind the worker's back
    (another process, a restore) is still found at once."""
    a = make_tenant("clinic-a")
    stop = threading.Event()
    worker = threading.Thread(target=outbox.run, kwargs={"stop": stop, "idle_sleep": 0.05})
    worker.start()
    try:
        time.sleep(0.3)
        outbox_wake.local.take()
        with tenant_session(a) as session:  # as if written elsewhere: no announcement
            row = OutboxMessage(
                channel="email",
                recipient="pat@example.org",
                body="hello",
                status=OutboxStatus.PENDING.value,
                next_attempt_at=clock.now(),
                created_at=clock.now(),
            )
            session.add(row)
            session.commit()
            row_id = row.id
        assert _wait(lambda: rows(a)[row_id].status == OutboxStatus.SENT, 10)
    finally:
        stop.set()
        worker.join(10)
