"""Wake-ups for the outbox worker: which outboxes have new work, so an idle worker looks there.

Without them the worker looked at every clinic's outbox every two seconds: six statements per
clinic per round, whatever the clinic had to send. At 25 clinics that was a third of the app
workers' CPU at light load (profiled under ``bench/load.py``); at a thousand clinics it would be
more than a processor.

A new row (``outbox.enqueue``), or a failed one sent again, announces its outbox when its
transaction commits:

* on PostgreSQL with ``NOTIFY mi_outbox`` whose payload is the clinic's id (or ``platform``).
  The server sends it only if the transaction commits, to whichever app worker delivers (it
  ``LISTEN``s on a connection of its own). The payload is an id, never personal data;
* in this process too, after the commit (the embedded set-up is one process).

The worker still looks at every outbox now and then (``outbox.FULL_SWEEP_SECONDS``): rows due
after a back-off, claims whose lease ran out, a clinic reactivated, a wake-up missed while the
listening connection was down. On SQLite (the embedded set-up: one process, a few clinics) it
looks at every outbox each round, as before.
"""

from __future__ import annotations

import logging
import threading
import uuid

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from mi_portal import db

log = logging.getLogger(__name__)

CHANNEL = "mi_outbox"
PLATFORM = "platform"


class Wakeups:
    """The outboxes announced since the worker last looked (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[str] = set()
        self._missed = False
        self.event = threading.Event()

    def add(self, key: str) -> None:
        with self._lock:
            self._keys.add(key)
        self.event.set()

    def missed(self) -> None:
        """Wake-ups may have been lost (the listener reconnected): look at every outbox."""
        with self._lock:
            self._missed = True
        self.event.set()

    def take(self) -> tuple[set[str], bool]:
        """The outboxes announced so far, and whether some may have been missed; then empty."""
        with self._lock:
            keys, missed = self._keys, self._missed
            self._keys, self._missed = set(), False
            self.event.clear()
        return keys, missed


# This process's: filled after commits here and by the listener below.
local = Wakeups()


def key_for(tenant_id: uuid.UUID | None) -> str:
    return str(tenant_id) if tenant_id is not None else PLATFORM


def announce(session: db.ScopedSession, tenant_id: uuid.UUID | None) -> None:
    """Wake the worker for this outbox once ``session``'s transaction commits (not before)."""
    key = key_for(tenant_id)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Delivered by the server at commit, dropped at rollback.
        connection.execute(sa.select(sa.func.pg_notify(CHANNEL, key)))
    event.listen(session, "after_commit", lambda _session: local.add(key), once=True)


def listen(engine: Engine, wakeups: Wakeups, stop: threading.Event, retry: float = 2.0) -> None:
    """Hear the outboxes' NOTIFYs until ``stop`` (PostgreSQL only; ``db.listen``).

    Every (re)connection first marks wake-ups as missed: whatever was announced while no one
    listened is found by a look at every outbox.
    """
    while not stop.is_set():
        try:
            db.listen(engine, CHANNEL, heard=wakeups.add, connected=wakeups.missed, stop=stop)
        except Exception as exc:  # the database restarted or refused: listen again soon
            log.warning("outbox wake-ups: %s", type(exc).__name__)
            wakeups.missed()
            stop.wait(retry)
