"""Engines and sessions. The only way to the database, and the place tenant scoping lives.

Three layers keep tenants apart (DESIGN.md); this module holds the second and wires the third:

* every SELECT/UPDATE/DELETE through a session gets ``tenant_id = <scope>`` criteria for each
  tenant-owned table, and a statement that touches such a table with no tenant in scope raises;
* new tenant-owned rows take ``tenant_id`` from the scope, never from the caller;
* on PostgreSQL each transaction starts with ``set_config('app.tenant_id', …, true)`` for the
  row-level-security policies, plus ``app.user_id`` (a signed-in user's own memberships) and
  ``app.platform`` (the platform audit chain) where a service asked for them.
"""

from __future__ import annotations

import functools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import ORMExecuteState, SessionTransaction, with_loader_criteria
from sqlalchemy.sql import visitors
from sqlmodel import Session

import mi_portal.models  # noqa: F401  (every table registered before scoping is built)
from mi_portal.config import get_settings, private_dir, private_file
from mi_portal.models.base import TenantOwned, tenant_models

TENANT_KEY = "tenant_id"
USER_KEY = "rls_user_id"
PLATFORM_KEY = "rls_platform"
READ_ONLY_KEY = "read_only"


class TenantScopeError(RuntimeError):
    """A tenant-owned table was touched without a tenant in scope."""


class ScopedSession(Session):
    """A SQLModel session that carries its tenant scope (or none, for platform work)."""

    @property
    def tenant_id(self) -> uuid.UUID | None:
        return self.info.get(TENANT_KEY)


_TENANT_MODELS = tenant_models()
_TENANT_TABLES = frozenset(m.__table__ for m in _TENANT_MODELS)  # type: ignore[attr-defined]

_engines: dict[tuple[int, str], Engine] = {}


def _private_sqlite_file(url: str) -> None:
    """Create the embedded database file 0600 in a 0700 folder before SQLite creates it 0644.

    SQLite gives its -wal and -shm files the database file's permissions.
    """
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        private_dir(path.parent)
    # Never open an existing database file here: closing any descriptor of a file drops every
    # POSIX lock this process holds on it, and SQLite's locks with it (a known way to corrupt).
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        private_file(path)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Without this SQLite ignores every foreign key, composite tenant keys included.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL still survives a killed process (the log is in the OS cache); only a
    # power cut can lose the last commits. FULL would fsync every commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine with the project's connection settings."""
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        # hide_parameters: a database error's text never carries the values sent (a patient's
        # message, name or email), wherever the error is logged.
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False}, hide_parameters=True
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    return sa.create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True
    )


def get_engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (the app's by default), created lazily once per process."""
    url = url or get_settings().database_url
    key = (os.getpid(), url)  # forked workers must not share connections
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = make_engine(url)
    return engine


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


@contextmanager
def tenant_session(
    tenant_id: uuid.UUID,
    *,
    platform: bool = False,
    read_only: bool = False,
    engine: Engine | None = None,
    lent: ScopedSession | None = None,
) -> Iterator[ScopedSession]:
    """A session that sees and writes only ``tenant_id``'s rows.

    ``platform=True`` also opens the platform audit chain (platform staff switched into a clinic
    reading both logs); it never opens another clinic's rows. ``read_only=True`` refuses every
    flush, and on PostgreSQL makes each transaction READ ONLY (platform figures read clinics).

    ``lent``: a caller's own session for the same clinic, used instead of a new one, so that a
    page's several reads share one connection and one transaction (and its identity map). It is
    not closed here; a service may commit it, as it would its own. Only a plain session of the
    same clinic can be lent: anything else raises.
    """
    if not isinstance(tenant_id, uuid.UUID):
        raise TenantScopeError("tenant scope must be a UUID")
    if lent is not None:
        if (
            lent.tenant_id != tenant_id
            or platform
            or read_only
            or lent.info.get(PLATFORM_KEY)
            or lent.info.get(READ_ONLY_KEY)
            or engine is not None
        ):
            raise TenantScopeError("a lent session must be a plain session of the same clinic")
        yield lent
        return
    info = {TENANT_KEY: tenant_id, PLATFORM_KEY: platform, READ_ONLY_KEY: read_only}
    with ScopedSession(engine or get_engine(), info=info) as session:
        yield session


@contextmanager
def platform_session(
    *, user_id: uuid.UUID | None = None, platform: bool = False, engine: Engine | None = None
) -> Iterator[ScopedSession]:
    """A session for platform tables only: any tenant-owned table raises.

    ``user_id`` lets it read that user's own memberships (sign-in, session resolve);
    ``platform=True`` lets it read and append to the platform audit chain. Neither reaches a
    clinic's rows: that takes ``tenant_session``.
    """
    info = {TENANT_KEY: None, USER_KEY: user_id, PLATFORM_KEY: platform}
    with ScopedSession(engine or get_engine(), info=info) as session:
        yield session


def bind_user(session: ScopedSession, user_id: uuid.UUID) -> None:
    """From now on let ``session`` read ``user_id``'s own memberships (known only mid-session)."""
    session.info[USER_KEY] = user_id
    if session.in_transaction():
        _apply_settings(session, session.connection())


IN_BATCH = 500


def in_batches(values: Sequence[Any], size: int = IN_BATCH) -> Iterator[list[Any]]:
    """``values`` in slices for ``IN (…)`` lists of a bounded number of parameters."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


class JobBusy(RuntimeError):
    """``exclusive_job``: another process holds the job's lock."""


@contextmanager
def exclusive_job(key: str) -> Iterator[None]:
    """Hold the named job's lock for the whole block, across processes (and threads), without
    waiting: ``JobBusy`` when it is taken. PostgreSQL: a session advisory lock on a connection
    kept for the block. The embedded database: an exclusive lock on a file beside it."""
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = conn.execute(sa.text("select pg_try_advisory_lock(hashtext(:k))"), {"k": key})
            if not got.scalar():
                conn.rollback()
                raise JobBusy(key)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("select pg_advisory_unlock(hashtext(:k))"), {"k": key})
                conn.commit()
        return
    import fcntl
    import hashlib

    folder = private_dir(get_settings().data_dir / "locks")
    path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.lock"
    with open(path, "a+b") as handle:
        private_file(path)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobBusy(key) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Leadership:
    """A named role one process (or thread) holds at a time, lost when its holder dies.

    PostgreSQL: a session advisory lock on a connection of its own (no pool), so the lock ends
    when that connection does: the holder's process killed, its backend terminated, the server
    restarted. The embedded database: an exclusive ``flock`` on a file beside it, which the kernel
    drops when the holder's process dies. ``try_acquire`` never waits; ``held`` tells a holder
    whether the role is still its own (a dead connection means another may already hold it).
    """

    def __init__(self, key: str, url: str | None = None) -> None:
        self.key = key
        self.url = url or get_settings().database_url
        self._conn: Connection | None = None
        self._engine: Engine | None = None
        self._handle: Any = None

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL server process of the holder's connection (for operators and tests)."""
        if self._conn is None:
            return None
        return int(self._conn.execute(sa.text("select pg_backend_pid()")).scalar_one())

    def try_acquire(self) -> bool:
        """Take the role if nobody holds it; ``False`` (and nothing kept open) if somebody does."""
        if self._conn is not None or self._handle is not None:
            return self.held()
        if not self.url.startswith("sqlite"):
            return self._try_pg()
        return self._try_file()

    def _try_pg(self) -> bool:
        from sqlalchemy.pool import NullPool

        self._engine = self._engine or sa.create_engine(self.url, poolclass=NullPool)
        try:
            conn = self._engine.connect()
        except DBAPIError:
            return False  # the server is away: nobody can be told they hold the role
        try:
            got = conn.execute(
                sa.text("select pg_try_advisory_lock(hashtext(:k))"), {"k": self.key}
            ).scalar()
            conn.commit()
        except DBAPIError:
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def _try_file(self) -> bool:
        import fcntl
        import hashlib

        folder = private_dir(get_settings().data_dir / "locks")
        path = folder / f"{hashlib.sha256(self.key.encode()).hexdigest()[:32]}.lock"
        handle = open(path, "a+b")  # noqa: SIM115  (held open while the role is held)
        private_file(path)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._handle = handle
        return True

    def held(self) -> bool:
        """Whether this holder still has the role (PostgreSQL: its connection still answers)."""
        if self._handle is not None:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("select 1")).scalar()
            self._conn.commit()
        except Exception:  # a dead or unusable connection (not only DBAPIError): not held
            self._drop_connection()
            return False
        return True

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # already unusable: nothing more to give back
                conn.invalidate()
                conn.close()

    def release(self) -> None:
        """Give the role up (a no-op when not held)."""
        if self._handle is not None:
            import fcntl

            handle, self._handle = self._handle, None
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        if self._conn is not None:
            try:
                self._conn.execute(
                    sa.text("select pg_advisory_unlock(hashtext(:k))"), {"k": self.key}
                )
                self._conn.commit()
                self._conn.close()
                self._conn = None
            except DBAPIError:
                self._drop_connection()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def serialize_on(session: Session, key: str) -> None:
    """Hold a transaction-scoped lock on ``key`` (PostgreSQL), so appends to a chain queue up."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("select pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


def hold_sqlite_write_lock(session: Session, table: str) -> None:
    """On SQLite, take the database's write lock now, in the session's transaction, with a
    write to ``table`` that changes nothing (SQLite takes the lock for any write statement);
    held until the transaction ends. Elsewhere nothing."""
    if session.get_bind().dialect.name == "sqlite":
        if not table.isidentifier():
            raise ValueError("a table name")
        session.execute(sa.text(f"update {table} set rowid = rowid where 1 = 0"))  # noqa: S608


def _touches_tenant_tables(statement: Any) -> bool:
    return any(
        isinstance(element, sa.Table) and element in _TENANT_TABLES
        for element in visitors.iterate(statement)
    )


@event.listens_for(ScopedSession, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    tenant_id = state.session.info.get(TENANT_KEY)
    if tenant_id is None:
        if _touches_tenant_tables(state.statement):
            raise TenantScopeError("query on a tenant-owned table with no tenant in scope")
        return
    state.statement = state.statement.options(*_criteria_for(tenant_id))


# SQLAlchemy runs a criteria lambda once with the class it was given, to learn its shape; the
# base class has no mapped column, so it gets this stand-in (set only now, after every model is
# mapped, so no table copies it; each mapped class's own ``tenant_id`` attribute hides it).
type.__setattr__(TenantOwned, "tenant_id", sa.column("tenant_id", sa.Uuid))


@functools.lru_cache(maxsize=4096)
def _criteria_for(tenant_id: uuid.UUID) -> tuple[Any, ...]:
    # One option on the base class reaches every tenant-owned model a statement names, aliases
    # included (30 options, one per model, cost a third of a millisecond per statement to build
    # and key). ``tenant_id`` travels as a bound parameter of the lambda, so the compiled form is
    # shared by every clinic. Built once per tenant and reused: options are immutable.
    return (
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        ),
    )


@event.listens_for(ScopedSession, "before_flush")
def _scope_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(READ_ONLY_KEY) and (session.new or session.dirty or session.deleted):
        raise TenantScopeError("write in a read-only session")
    tenant_id = session.info.get(TENANT_KEY)
    for obj in session.new:
        if isinstance(obj, TenantOwned):
            if tenant_id is None:
                raise TenantScopeError("insert into a tenant-owned table with no tenant in scope")
            obj.tenant_id = tenant_id
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, TenantOwned) and (tenant_id is None or obj.tenant_id != tenant_id):
            raise TenantScopeError("write to a row outside the session's tenant")


@event.listens_for(ScopedSession, "after_begin")
def _set_rls_tenant(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    if session.info.get(READ_ONLY_KEY) and connection.dialect.name == "postgresql":
        # First in the transaction: PostgreSQL takes SET TRANSACTION only before any query.
        connection.execute(sa.text("SET TRANSACTION READ ONLY"))
    _apply_settings(session, connection)


def _apply_settings(session: Session, connection: Connection) -> None:
    if connection.dialect.name != "postgresql":
        return
    tenant_id = session.info.get(TENANT_KEY)
    user_id = session.info.get(USER_KEY)
    platform = session.info.get(PLATFORM_KEY)
    if tenant_id is None and user_id is None and not platform:
        return
    # is_local=true: the settings end with the transaction, so a pooled connection never
    # carries one request's tenant, user or platform flag into the next. Unset ones become ''
    # (never a leftover value), which every policy reads as no rows or as an error.
    connection.execute(
        sa.text(
            "select set_config('app.tenant_id', :tenant, true),"
            " set_config('app.user_id', :user, true),"
            " set_config('app.platform', :platform, true)"
        ),
        {
            "tenant": str(tenant_id) if tenant_id is not None else "",
            "user": str(user_id) if user_id is not None else "",
            "platform": "on" if platform else "",
        },
    )


def listen(
    engine: Engine,
    channel: str,
    *,
    heard: Callable[[str], None],
    connected: Callable[[], None],
    stop: threading.Event,
    probe_every: float = 5.0,
) -> None:
    """``LISTEN channel`` on a connection of its own (outside the pool), passing each payload to
    ``heard`` until ``stop``; ``connected`` once listening. Returns when stopped; raises when
    the connection fails, which a ``SELECT 1`` every ``probe_every`` seconds finds out even when
    nothing is said (notifications that arrive meanwhile wait for the next read). PostgreSQL
    only."""
    import psycopg
    from psycopg import sql

    if not channel.isidentifier():
        raise ValueError("a channel is a plain identifier")
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        connected()
        probed = time.monotonic()
        while not stop.is_set():
            for note in connection.notifies(timeout=0.5):
                heard(note.payload)
            if time.monotonic() - probed >= probe_every:
                connection.execute("SELECT 1")
                probed = time.monotonic()
