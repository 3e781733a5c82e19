"""The in-process worker runs in one app worker at a time, and another takes over when it dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from mi_portal.db import Leadership
from mi_portal.services import outbox
from tests.conftest import Database

KEY = "test:leadership"


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class Contender:
    """One app worker's in-process loop, recording when its work runs."""

    def __init__(self, name: str, active: set[str], overlaps: list[set[str]]) -> None:
        self.name = name
        self.active = active
        self.overlaps = overlaps
        self.stop = threading.Event()
        self.rounds = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _work(self, inner: threading.Event) -> None:
        self.active.add(self.name)
        try:
            while not inner.wait(0.01):
                self.rounds += 1
                if len(self.active) > 1:
                    self.overlaps.append(set(self.active))
        finally:
            self.active.discard(self.name)

    def _run(self) -> None:
        outbox.run_as_leader(self._work, stop=self.stop, key=KEY, check_seconds=0.1)

    def start(self) -> Contender:
        self.thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def test_two_workers_contend_and_exactly_one_works(db: Database) -> None:
    active: set[str] = set()
    overlaps: list[set[str]] = []
    first = Contender("first", active, overlaps).start()
    second = Contender("second", active, overlaps).start()
    try:
        assert wait_for(lambda: len(active) == 1)
        time.sleep(1.0)  # several checks by both: the other never starts its work
        assert len(active) == 1
        holder, other = (first, second) if "first" in active else (second, first)
        assert holder.rounds > 10 and other.rounds == 0
        holder.finish()  # a clean shutdown gives the role up at once
        assert wait_for(lambda: active == {other.name})
    finally:
        first.finish()
        second.finish()
    assert overlaps == []
    assert active == set()


@pytest.mark.postgres
def test_another_worker_takes_over_when_the_holders_connection_dies(pg: Database) -> None:
    holder = Leadership(KEY)
    assert holder.try_acquire()
    try:
        active: set[str] = set()
        overlaps: list[set[str]] = []
        waiting = Contender("waiting", active, overlaps).start()
        time.sleep(0.5)
        assert active == set() and waiting.rounds == 0
        # The holder's backend ends (what a database restart does to every connection).
        pid = holder.backend_pid
        with pg.admin_engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
        assert wait_for(lambda: active == {"waiting"})
        assert not holder.held()  # the old holder learns it lost the role
        assert not holder.try_acquire()  # and cannot take it back while the other works
        waiting.finish()
        assert overlaps == []
    finally:
        holder.release()


HOLD_SCRIPT = """
import sys, time
from mi_portal.db import Leadership
role = Leadership(sys.argv[1])
assert role.try_acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_another_worker_takes_over_when_the_holders_process_is_killed(db: Database) -> None:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, KEY], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        active: set[str] = set()
        overlaps: list[set[str]] = []
        waiting = Contender("waiting", active, overlaps).start()
        time.sleep(0.5)
        assert active == set(), "the role was taken while another process held it"
        child.send_signal(signal.SIGKILL)  # no clean-up: the server or kernel drops the lock
        child.wait(10)
        assert wait_for(lambda: active == {"waiting"})
        waiting.finish()
        assert overlaps == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_an_error_in_the_leader_loop_stops_the_work_before_the_role_is_given_up(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    active: set[str] = set()
    overlaps: list[set[str]] = []
    contender = Contender("holder", active, overlaps)
    released_while_working: list[bool] = []
    real_release = Leadership.release

    def failing_held(self: Leadership) -> bool:
        raise RuntimeError("the check itself failed")  # anything unexpected in the hold loop

    def watched_release(self: Leadership) -> None:
        released_while_working.append(bool(active))
        real_release(self)

    monkeypatch.setattr(Leadership, "held", failing_held)
    monkeypatch.setattr(Leadership, "release", watched_release)
    errors: list[BaseException] = []

    def leader() -> None:
        try:
            outbox.run_as_leader(contender._work, stop=contender.stop, key=KEY, check_seconds=0.1)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=leader, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert [type(e) for e in errors] == [RuntimeError]
    assert contender.rounds > 0  # the work did run while the role was held
    assert active == set()  # and it stopped: no work thread outlives the loop
    assert released_while_working and not any(released_while_working)
    assert not [t for t in threading.enumerate() if t.name == "mi-portal-outbox-work"]
    monkeypatch.undo()
    other = Leadership(KEY)  # and the role is free again
    try:
        assert other.try_acquire()
    finally:
        other.release()
