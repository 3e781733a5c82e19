"""A worker keeps the sessions it resolved, and forgets them the moment access changes.

Resolving the session on every event and photo fetch was the workers' largest single use of CPU
under load. A kept session must never outlive a change: a sign-out, a disabled user, a removed
membership or a suspended clinic reaches every worker (NOTIFY from triggers, whoever wrote it)
and the worker that made it at once (at its commit); time limits are checked on every use.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from mi_portal.db import get_engine, platform_session, tenant_session
from mi_portal.models import Membership, User, UserSession
from mi_portal.services import auth, clock, session_cache
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token


def _wait(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement the app's engine sends."""
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        sent.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", seen)
    yield sent
    event.remove(engine, "before_cursor_execute", seen)


@pytest.fixture
def listening(db: Database) -> Iterator[session_cache.SessionCache]:
    """This process listens for changes, as every app worker does."""
    session_cache.start(get_engine(), retry=0.2)
    assert _wait(lambda: session_cache.cache.live)
    yield session_cache.cache
    session_cache.stop()
    assert not session_cache.cache.live


@pytest.fixture
def live_without_listener(db: Database) -> Iterator[session_cache.SessionCache]:
    """Kept sessions with no notifications at all: only this process's own commits forget."""
    session_cache.cache.connected()
    yield session_cache.cache
    session_cache.cache.lost()


def _manager() -> tuple[uuid.UUID, uuid.UUID, str]:
    clinic = make_tenant("clinic-a")
    user, _ = make_user("manager@a.test", role="clinic_manager", tenants=(clinic,))
    return clinic, user, sign_in_token(user)


def _kept(token: str) -> None:
    """Resolve until this worker keeps the session: the set-up's own writes (a membership) are
    announced too, and a read that overlaps an announcement is not kept."""
    assert _wait(lambda: auth.resolve(token) is not None and len(session_cache.cache) == 1)


def _owner_sql(db: Database, sql: str, **params: object) -> None:
    """A write by another writer (an operator's SQL, as the database owner)."""
    with db.admin_engine.begin() as conn:
        conn.execute(sa.text(sql), params)


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_kept_session_costs_no_statement_and_answers_with_the_requests_own_address(
    listening: session_cache.SessionCache, statements: list[str]
) -> None:
    clinic, user, token = _manager()
    _kept(token)
    first = auth.resolve(token, ip="192.0.2.1", user_agent="first browser")
    assert first is not None
    statements.clear()
    again = auth.resolve(token, ip="192.0.2.2", user_agent="second browser")
    assert statements == []
    assert again is not None and again.actor.tenant_id == clinic and again.user_id == user
    assert (again.actor.ip, again.actor.user_agent) == ("192.0.2.2", "second browser")
    assert again.memberships == first.memberships and again.email == first.email


CHANGES = {
    "signed out elsewhere": "UPDATE user_session SET revoked_at = now() WHERE user_id = :user",
    "user disabled": "UPDATE user_account SET disabled = true WHERE id = :user",
    "membership ended": "UPDATE membership SET disabled_at = now() WHERE user_id = :user",
    "membership removed": "DELETE FROM membership WHERE user_id = :user",
    "clinic suspended": "UPDATE tenant SET status = 'suspended', active = false WHERE id = :clinic",
}


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_written_by_anyone_else_reaches_the_worker(
    db: Database, listening: session_cache.SessionCache, statements: list[str], change: str
) -> None:
    clinic, user, token = _manager()
    _kept(token)
    statements.clear()
    assert auth.resolve(token) is not None and statements == []  # kept
    _owner_sql(db, CHANGES[change], user=user, clinic=clinic)

    def refused() -> bool:
        signed_in = auth.resolve(token)
        return signed_in is None or signed_in.actor.tenant_id is None

    assert _wait(refused, 5.0), change


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_the_idle_clock_alone_announces_nothing_and_a_real_change_announces_only_its_table(
    db: Database,
) -> None:
    clinic, user, _token = _manager()
    url = make_url(db.admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN mi_auth")
        _owner_sql(
            db, "UPDATE user_session SET last_seen_at = now() WHERE user_id = :user", user=user
        )
        _owner_sql(
            db, "UPDATE user_session SET mfa_passed = false WHERE user_id = :user", user=user
        )
        _owner_sql(db, "UPDATE tenant SET name = 'Renamed' WHERE id = :clinic", clinic=clinic)
        heard = [n.payload for n in listener.notifies(timeout=2.0, stop_after=3)]
    # In commit order: the touch said nothing; the payload names a table, never a row.
    assert heard == ["user_session", "tenant"]


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_this_workers_own_change_is_forgotten_at_its_commit(
    live_without_listener: session_cache.SessionCache, statements: list[str]
) -> None:
    clinic, user, token = _manager()
    other = sign_in_token(user)
    assert auth.resolve(token) is not None and auth.resolve(other) is not None
    assert len(live_without_listener) == 2

    # Touching the idle clock (through the ORM) is not a change: both stay kept.
    with platform_session() as session:
        row = (
            session.exec(sa.select(UserSession).where(UserSession.user_id == user))
            .scalars()
            .first()
        )
        assert row is not None
        row.last_seen_at = clock.now()
        session.add(row)
        session.commit()
    assert len(live_without_listener) == 2

    auth.sign_out(token)  # no notification can arrive here: only the commit hook forgets
    assert auth.resolve(token) is None
    assert auth.resolve(other) is not None

    # A membership changed through the ORM in this process.
    with tenant_session(clinic) as session:
        membership = session.exec(sa.select(Membership)).scalars().one()
        membership.role = "viewer"
        session.add(membership)
        session.commit()
    signed_in = auth.resolve(other)
    assert signed_in is not None and signed_in.actor.role.value == "viewer"

    # A bulk statement through a session.
    with platform_session() as session:
        session.execute(sa.update(User).where(User.id == user).values(disabled=True))  # type: ignore[arg-type]
        session.commit()
    assert auth.resolve(other) is None


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_rolled_back_change_forgets_nothing(
    live_without_listener: session_cache.SessionCache, statements: list[str]
) -> None:
    _clinic, user, token = _manager()
    assert auth.resolve(token) is not None
    with platform_session() as session:
        session.execute(sa.update(User).where(User.id == user).values(disabled=True))  # type: ignore[arg-type]
        session.rollback()
    statements.clear()
    assert auth.resolve(token) is not None and statements == []


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_read_that_raced_a_change_is_not_kept(
    live_without_listener: session_cache.SessionCache,
    statements: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _clinic, _user, token = _manager()
    real = auth._active_clinics

    def raced(session, user_id):  # type: ignore[no-untyped-def]
        live_without_listener.forget_all()  # a change heard while this read ran
        return real(session, user_id)

    monkeypatch.setattr(auth, "_active_clinics", raced)
    assert auth.resolve(token) is not None
    assert len(live_without_listener) == 0
    monkeypatch.setattr(auth, "_active_clinics", real)
    assert auth.resolve(token) is not None and len(live_without_listener) == 1


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_time_limits_are_checked_on_every_use(
    live_without_listener: session_cache.SessionCache, statements: list[str]
) -> None:
    _clinic, user, token = _manager()
    start = clock.now()
    try:
        assert auth.resolve(token) is not None
        # Due for a touch of the idle clock: the database is read (and written) again.
        clock.set_clock(lambda: start + auth.TOUCH_EVERY + timedelta(seconds=1))
        statements.clear()
        assert auth.resolve(token) is not None
        assert any(s.lstrip().upper().startswith("UPDATE USER_SESSION") for s in statements)
        # A page's own requests (activity=False) do not touch, and are answered from memory.
        statements.clear()
        assert auth.resolve(token, activity=False) is not None and statements == []
        # Idle past the timeout: refused, and the row itself is ended.
        clock.set_clock(lambda: start + auth.IDLE_TIMEOUT + auth.TOUCH_EVERY * 2)
        assert auth.resolve(token, activity=False) is None
    finally:
        clock.set_clock(None)
    with platform_session() as session:
        rows = session.exec(sa.select(UserSession).where(UserSession.user_id == user)).scalars()
        assert all(row.revoked_at is not None for row in rows)


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_nothing_is_kept_without_a_listener_or_while_it_is_down(
    db: Database, listening: session_cache.SessionCache, statements: list[str]
) -> None:
    _clinic, _user, token = _manager()
    _kept(token)
    # The listening connection is cut (a database restart, a network fault).
    _owner_sql(
        db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE query LIKE 'LISTEN%mi_auth%' AND pid <> pg_backend_pid()",
    )
    # Forgotten on the way down (and kept empty until it is back: retry 0.2 s).
    assert _wait(lambda: len(listening) == 0, 10.0)
    assert _wait(lambda: listening.live, 10.0)
    statements.clear()
    assert auth.resolve(token) is not None and statements  # read again
    session_cache.stop()
    statements.clear()
    assert auth.resolve(token) is not None and statements
    statements.clear()
    assert auth.resolve(token) is not None and statements  # and again: nothing kept


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_embedded_database_keeps_nothing(db: Database, statements: list[str]) -> None:
    assert session_cache.start(get_engine()) is None
    assert not session_cache.cache.live
    _clinic, _user, token = _manager()
    for _ in range(2):
        statements.clear()
        assert auth.resolve(token) is not None and statements


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_clinics_members_are_kept_and_forgotten_with_the_sessions(
    db: Database, listening: session_cache.SessionCache, statements: list[str]
) -> None:
    """The case page's and the queue's member list is kept like a session: no statement while
    kept; this worker's own change forgets it at its commit; another writer's change reaches
    the worker; an assignment checks the database itself."""
    from mi_portal.models import Role
    from mi_portal.services import cases
    from mi_portal.services.actor import Actor

    clinic, user, _token = _manager()
    actor = Actor(user_id=user, role=Role.CLINIC_MANAGER, tenant_id=clinic)

    def ids() -> set[str]:
        return {uid for uid, _name in cases.assignable(actor)}

    assert _wait(lambda: bool(ids()) and listening.members(clinic) is not None)
    statements.clear()
    assert ids() == {str(user)} and statements == []  # kept
    assert {uid for uid, _ in cases.assignable(actor, kept=False)} == {str(user)}
    assert statements  # read

    other, _ = make_user("coordinator@a.test", role="coordinator", tenants=(clinic,))
    assert ids() == {str(user), str(other)}  # this worker's own commit forgot the list
    assert _wait(lambda: ids() == {str(user), str(other)} and listening.members(clinic) is not None)
    _owner_sql(db, "UPDATE membership SET disabled_at = now() WHERE user_id = :u", u=other)
    assert _wait(lambda: ids() == {str(user)}, 5.0)  # another writer's change is heard

    listening.lost()  # the listener is down: nothing is kept
    statements.clear()
    assert ids() == {str(user)} and statements
    assert listening.members(clinic) is None


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_embedded_database_keeps_no_members(db: Database, statements: list[str]) -> None:
    from mi_portal.models import Role
    from mi_portal.services import cases
    from mi_portal.services.actor import Actor

    assert session_cache.start(get_engine()) is None
    clinic, user, _token = _manager()
    actor = Actor(user_id=user, role=Role.CLINIC_MANAGER, tenant_id=clinic)
    for _ in range(2):
        statements.clear()
        assert cases.assignable(actor) == [(str(user), cases.assignable(actor)[0][1])]
        assert statements


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_requests_of_one_tab_that_miss_together_read_the_database_once(
    live_without_listener: session_cache.SessionCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's dozen thumbnails resolve the same session at the same moment: the first reads
    it, the others wait for it and are answered from what it kept. Another tab's request does
    not wait behind them."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    _clinic, user, token = _manager()
    other = sign_in_token(user)
    key = auth._hash_token(token)
    real = auth._read_session
    reads: list[str] = []
    other_read = threading.Event()

    def watched(key_: str, **kwargs: object) -> object:
        reads.append(key_)
        if key_ == key and reads.count(key) == 1:
            # Hold the first read until the other eleven wait behind it, and the other tab's
            # read has gone through meanwhile.
            assert _wait(lambda: live_without_listener._reading[key][1] == 12)
            assert other_read.wait(10)
        found = real(key_, **kwargs)  # type: ignore[arg-type]
        if key_ != key:
            other_read.set()
        return found

    monkeypatch.setattr(auth, "_read_session", watched)
    with ThreadPoolExecutor(max_workers=13) as pool:
        tab = [pool.submit(auth.resolve, token, ip=f"192.0.2.{i}") for i in range(12)]
        assert _wait(lambda: key in live_without_listener._reading)
        assert pool.submit(auth.resolve, other).result() is not None
        answers = [job.result() for job in tab]
    assert reads.count(key) == 1 and len(reads) == 2
    assert all(a is not None and a.user_id == user for a in answers)
    assert sorted(a.actor.ip for a in answers if a) == sorted(f"192.0.2.{i}" for i in range(12))
    assert live_without_listener._reading == {}


@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_a_kept_session_is_answered_in_place_and_a_changed_one_is_read(
    db: Database, listening: session_cache.SessionCache, thread_trips: list[str]
) -> None:
    """Event handlers and photo routes ask ``resolve_async``: a kept session is answered on the
    event loop with the request's own address, with no trip to a worker thread; a session
    kept no longer (signed out by another writer) is read on a thread, and refused."""
    import asyncio

    clinic, _user, token = _manager()
    _kept(token)
    trips = thread_trips
    signed = asyncio.run(auth.resolve_async(token, ip="192.0.2.9", user_agent="this tab"))
    assert trips == [] and signed is not None and signed.actor.tenant_id == clinic
    assert (signed.actor.ip, signed.actor.user_agent) == ("192.0.2.9", "this tab")
    assert auth.resolve_kept("not a token") is None and auth.resolve_kept(None) is None
    assert asyncio.run(auth.resolve_async("x" * 201)) is None
    _owner_sql(db, CHANGES["signed out elsewhere"], user=_user)
    assert _wait(lambda: auth.resolve_kept(token) is None, 5.0)
    trips.clear()
    assert asyncio.run(auth.resolve_async(token)) is None and trips == ["resolve"]
