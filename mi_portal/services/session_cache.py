"""Sessions a worker resolved, kept for a few seconds, and forgotten the moment access changes.

Every event and every photo fetch resolves the sign-in session (``auth.resolve``): the session
row, its user, their memberships and clinics, three statements and a transaction. Profiled under
``bench/load.py`` with 200 users that was the largest single use of the app workers' CPU (14 %).
Here a worker keeps what it resolved, keyed by the token's hash, so the next event of the same
tab is answered from memory.

What makes that safe:

* **Every change is announced.** Triggers (migration 0016) send ``NOTIFY mi_auth`` when a
  session, user, membership or clinic row changes, whoever writes it: the app, the command line
  or an operator's SQL. Each worker listens on a connection of its own and forgets *everything*
  it kept when it hears one. A session's idle clock moving alone is not announced (see below).
* **The worker that makes a change forgets at its commit,** before the notification even
  arrives: a tab that signs out and clicks again on the same worker is refused at once.
* **Nothing is kept unless the listener is connected.** Until it is (and whenever it drops),
  every event reads the database, as before. A ``SELECT 1`` every few seconds finds a dead
  connection even when nothing is said.
* **A read that raced a change is not kept.** The generation (bumped by every change heard) is
  taken before the database is read; a result is kept only if no change was heard meanwhile.
* **Time is checked on every use.** Expiry, the idle timeout and the end of a clinic switch are
  compared with the clock each time; when the kept copy says the session may be idle, or that
  its idle clock is due to be touched, the database is read again (another worker may have
  touched it), so ``last_seen_at`` alone never needs an announcement.
* Entries are dropped after ``HOLD_SECONDS`` anyway, and there are at most ``MAX_ENTRIES``.

The embedded database serves one process and has no ``NOTIFY``: nothing is kept there.
The cache lives in the worker's memory only (never written anywhere); the request's own address
and browser are put back on each answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState

from mi_portal import db
from mi_portal.models import Membership, Tenant, User, UserSession

if TYPE_CHECKING:
    from mi_portal.services.auth import SignedIn

log = logging.getLogger(__name__)

CHANNEL = "mi_auth"  # the triggers of migration 0016 say this
HOLD_SECONDS = 20.0
MAX_ENTRIES = 20_000
MAX_CLINICS = 2_000
_WATCHED = (UserSession, User, Membership, Tenant)
_WATCHED_TABLES = frozenset(m.__tablename__ for m in _WATCHED)  # type: ignore[attr-defined]
_CHANGED = "mi_session_cache_changed"


@dataclasses.dataclass(frozen=True)
class Kept:
    """One resolved session, without the request's address and browser."""

    signed_in: SignedIn
    expires_at: datetime
    last_seen_at: datetime
    switch_expires_at: datetime | None
    kept_at: float  # time.monotonic()

    def good_at(self, now: datetime, *, idle: timedelta, touch: timedelta, activity: bool) -> bool:
        """Still valid by the clock, and nothing to write (else the database is read again)."""
        since_seen = now - self.last_seen_at
        return (
            time.monotonic() - self.kept_at < HOLD_SECONDS
            and now < self.expires_at
            and since_seen < idle
            and not (activity and since_seen >= touch)
            and (self.switch_expires_at is None or now < self.switch_expires_at)
        )

    def answer(self, ip: str | None, user_agent: str | None) -> SignedIn:
        actor = dataclasses.replace(self.signed_in.actor, ip=ip, user_agent=user_agent)
        return dataclasses.replace(self.signed_in, actor=actor)


class SessionCache:
    """Thread-safe; keeps nothing unless ``live`` (the listener is connected)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Kept] = OrderedDict()
        # Each clinic's members who can work cases (``cases.assignable``): made of the same
        # rows (users, memberships), so forgotten by the same announcements.
        self._members: OrderedDict[uuid.UUID, tuple[float, tuple[tuple[str, str], ...]]] = (
            OrderedDict()
        )
        self._generation = 0
        self._live = False
        # Tokens being read from the database now, with how many requests wait for each.
        self._reading: dict[str, tuple[threading.Lock, int]] = {}

    @property
    def live(self) -> bool:
        return self._live

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Kept | None:
        with self._lock:
            return self._entries.get(key) if self._live else None

    def generation(self) -> int | None:
        """Taken before reading the database: ``put`` keeps the result only if still current."""
        with self._lock:
            return self._generation if self._live else None

    def put(self, key: str, generation: int, kept: Kept) -> None:
        with self._lock:
            if not self._live or generation != self._generation:
                return  # a change was heard while this was read: it may already be stale
            self._entries[key] = kept
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def members(self, tenant_id: uuid.UUID) -> list[tuple[str, str]] | None:
        """The clinic's members kept by ``keep_members`` (None: not kept, or too old)."""
        with self._lock:
            found = self._members.get(tenant_id) if self._live else None
            if found is None or time.monotonic() - found[0] >= HOLD_SECONDS:
                return None
            return list(found[1])

    @contextlib.contextmanager
    def one_reader(self, key: str) -> Iterator[None]:
        """Requests of one tab that miss at once wait for the first one's read and then find
        what it kept, instead of each reading the database (a page's dozen thumbnails arrive
        together). Nothing to wait for while nothing is kept (``live`` off)."""
        with self._lock:
            if not self._live:
                lock = None
            else:
                lock, waiting = self._reading.get(key, (threading.Lock(), 0))
                self._reading[key] = (lock, waiting + 1)
        if lock is None:
            yield
            return
        try:
            with lock:
                yield
        finally:
            with self._lock:
                _, waiting = self._reading[key]
                if waiting == 1:
                    del self._reading[key]
                else:
                    self._reading[key] = (lock, waiting - 1)

    def keep_members(
        self, tenant_id: uuid.UUID, generation: int, rows: Iterable[tuple[str, str]]
    ) -> None:
        with self._lock:
            if not self._live or generation != self._generation:
                return  # a change was heard while this was read: it may already be stale
            self._members[tenant_id] = (time.monotonic(), tuple(rows))
            self._members.move_to_end(tenant_id)
            while len(self._members) > MAX_CLINICS:
                self._members.popitem(last=False)

    def _clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._members.clear()

    def forget_all(self, _reason: object = None) -> None:
        with self._lock:
            self._clear()

    def connected(self) -> None:
        """The listener is listening: from now on every change is heard."""
        with self._lock:
            self._clear()
            self._live = True

    def lost(self) -> None:
        """The listener is down: keep nothing (a change now would go unheard)."""
        with self._lock:
            self._clear()
            self._live = False


# This process's.
cache = SessionCache()


# ---- this process's own changes: forgotten at their commit ---------------------------------


def _changes_access(objects: Iterable[Any], *, new: bool) -> bool:
    for obj in objects:
        if not isinstance(obj, _WATCHED):
            continue
        if new:
            # A new session or user changes nobody's access; a new membership does.
            if isinstance(obj, Membership):
                return True
            continue
        if isinstance(obj, UserSession):
            state = sa.inspect(obj)
            if any(a.key != "last_seen_at" and a.history.has_changes() for a in state.attrs):
                return True
            continue
        return True
    return False


@event.listens_for(db.ScopedSession, "after_flush")
def _flushed(session: db.ScopedSession, _context: Any) -> None:
    # The collections still hold what was just flushed.
    if (
        _changes_access(session.new, new=True)
        or _changes_access(session.dirty, new=False)
        or _changes_access(session.deleted, new=False)
    ):
        session.info[_CHANGED] = True


@event.listens_for(db.ScopedSession, "do_orm_execute")
def _bulk_statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _WATCHED_TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(db.ScopedSession, "after_commit")
def _committed(session: db.ScopedSession) -> None:
    if session.info.pop(_CHANGED, False):
        cache.forget_all()


@event.listens_for(db.ScopedSession, "after_rollback")
def _rolled_back(session: db.ScopedSession) -> None:
    session.info.pop(_CHANGED, None)


# ---- every other writer's changes: heard through NOTIFY ------------------------------------

_listener: threading.Thread | None = None
_stop = threading.Event()
_listener_lock = threading.Lock()


def _listen(engine: Engine, stop: threading.Event, retry: float) -> None:
    try:
        while not stop.is_set():
            try:
                db.listen(
                    engine, CHANNEL, heard=cache.forget_all, connected=cache.connected, stop=stop
                )
            except Exception as exc:  # the database restarted or refused: keep nothing
                log.warning("session changes: listener lost (%s)", type(exc).__name__)
                cache.lost()
                stop.wait(retry)
    finally:
        cache.lost()


def start(engine: Engine | None = None, *, retry: float = 2.0) -> threading.Thread | None:
    """Listen for changes in this process (PostgreSQL only; idempotent)."""
    global _listener
    engine = engine or db.get_engine()
    if engine.dialect.name != "postgresql":
        return None
    with _listener_lock:
        if _listener is not None and _listener.is_alive():
            return _listener
        _stop.clear()
        _listener = threading.Thread(
            target=_listen,
            args=(engine, _stop, retry),
            name="mi-portal-session-changes",
            daemon=True,
        )
        _listener.start()
        return _listener


def stop(timeout: float = 5.0) -> None:
    global _listener
    with _listener_lock:
        thread, _listener = _listener, None
        _stop.set()
    if thread is not None:
        thread.join(timeout)
    cache.lost()


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """For ``app.register_lifespan_task``: every worker listens while it serves."""
    import asyncio

    await asyncio.to_thread(start)
    try:
        yield
    finally:
        await asyncio.to_thread(stop)
