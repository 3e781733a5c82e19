"""Test worlds on both databases: an embedded SQLite file and a real PostgreSQL server.

Under CI=true a missing PostgreSQL fails the run; elsewhere its tests are skipped with a loud line.
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

from mi_portal import migrations
from mi_portal.config import reset_settings
from mi_portal.db import dispose_engines, make_engine
from tests.clocks import Clock

PG_SERVER_URL = os.environ.get(
    "MI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def loud_skip(what: str, why: str) -> None:
    """Skip, but say so where nobody can miss it; in CI, fail instead."""
    message = f"{what} NOT RUN: {why}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    sys.stderr.write(f"\n!!!!! {message} !!!!!\n")
    pytest.skip(message)


@dataclass
class Database:
    """One migrated database: the owner's URL, the app role's URL and the app's engine."""

    kind: str
    admin_url: str
    app_url: str
    engine: Engine
    admin_engine: Engine

    def wipe(self) -> None:
        """Remove every row (as the owner; TRUNCATE is not subject to row-level security)."""
        tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
        with self.admin_engine.begin() as conn:
            if self.kind == "postgres":
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
            else:
                for table in tables:
                    conn.execute(sa.text(f"DELETE FROM {table}"))


def _pg_reachable() -> str | None:
    engine = sa.create_engine(PG_SERVER_URL)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:
        return str(exc).splitlines()[0]
    finally:
        engine.dispose()
    return None


@contextmanager
def empty_pg_database(prefix: str) -> Iterator[tuple[str, str]]:
    """A new, empty PostgreSQL database: (owner URL, URL of a not-yet-created app role)."""
    problem = _pg_reachable()
    if problem:
        loud_skip("PostgreSQL tests", f"cannot reach {PG_SERVER_URL}: {problem}")
    suffix = secrets.token_hex(4)
    db_name, role = f"{prefix}_{suffix}", f"{prefix}_app_{suffix}"
    server = sa.create_engine(PG_SERVER_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    base = make_url(PG_SERVER_URL)
    admin_url = base.set(database=db_name).render_as_string(hide_password=False)
    app_url = base.set(database=db_name, username=role, password=None).render_as_string(
        hide_password=False
    )
    try:
        yield admin_url, app_url
    finally:
        dispose_engines()
        with server.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        server.dispose()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database, migrated by its owner, and a login role for the app."""
    with empty_pg_database("mi_test") as (admin_url, app_url):
        migrations.upgrade(admin_url=admin_url, app_url=app_url)
        yield admin_url, app_url


@pytest.fixture(scope="session")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "mi_portal.db"
    url = f"sqlite:///{path}"
    migrations.upgrade(admin_url=url, app_url=url)
    return url


def use_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, app_url: str, admin_url: str
) -> None:
    """Point the app (settings, engines, object store) at these URLs for one test."""
    monkeypatch.setenv("MI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MI_DATABASE_URL", app_url)
    monkeypatch.setenv("MI_ADMIN_DATABASE_URL", admin_url)
    monkeypatch.setenv("MI_STORAGE", f"file://{tmp_path / 'objects'}")
    reset_settings()
    from mi_portal.storage import get_store

    get_store.cache_clear()


def _database(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> Iterator[Database]:
    """The app pointed at the session's SQLite or PostgreSQL database, emptied afterwards."""
    if kind == "postgres":
        admin_url, app_url = request.getfixturevalue("pg_server")
    else:
        admin_url = app_url = request.getfixturevalue("sqlite_server")
    use_database(monkeypatch, tmp_path, app_url, admin_url)
    from mi_portal.db import get_engine

    database = Database(kind, admin_url, app_url, get_engine(app_url), make_engine(admin_url))
    try:
        yield database
    finally:
        database.wipe()
        database.admin_engine.dispose()
        reset_settings()


@pytest.fixture(params=["sqlite", "postgres"])
def db(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Database]:
    """The app's database, once on SQLite and once on PostgreSQL, emptied after each test."""
    yield from _database(request, monkeypatch, tmp_path, request.param)


@pytest.fixture
def pg(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Database]:
    """PostgreSQL only (row-level security, roles)."""
    yield from _database(request, monkeypatch, tmp_path, "postgres")


@pytest.fixture
def sqlite_db(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Database]:
    """The embedded database only (where running a test on both adds nothing but time)."""
    yield from _database(request, monkeypatch, tmp_path, "sqlite")


@pytest.fixture
def fake_clock() -> Iterator[Clock]:
    """The services' clock, moved by hand (``fake_clock.advance(hours=2)``)."""
    from mi_portal.services import clock

    moving = Clock()
    clock.set_clock(moving)
    yield moving
    clock.set_clock(None)


@pytest.fixture
def later() -> Iterator[Callable[[float], datetime]]:
    """Move the services' clock to ``days`` after the test began: ``later(days)``."""
    from mi_portal.models import utcnow
    from mi_portal.services import clock

    start = utcnow()

    def move(days: float) -> datetime:
        moment = start + timedelta(days=days)
        clock.set_clock(lambda: moment)
        return moment

    yield move
    clock.set_clock(None)


@pytest.fixture
def thread_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every function the code under test sends to a worker thread
    (``asyncio.to_thread``; a ``functools.partial`` by its function's name), in order."""
    import asyncio

    trips: list[str] = []
    real_to_thread = asyncio.to_thread

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(getattr(fn, "func", fn), "__name__", repr(fn)))
        return await real_to_thread(fn, *args, **kwargs)

    monkeypatch.setattr(asyncio, "to_thread", counting)
    return trips


@pytest.fixture(autouse=True)
def fresh_rate_limits() -> Iterator[None]:
    """Each test starts with empty in-process rate-limit windows (none carried between tests)."""
    from mi_portal.services import ratelimit

    ratelimit.set_backend(ratelimit.MemoryBackend())
    yield
    ratelimit.set_backend(None)


@pytest.fixture(autouse=True)
def fail_on_logged_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A test during which the app logged an ERROR fails, even if its assertions pass."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [
        r
        for r in caplog.get_records("call")
        if r.levelno >= logging.ERROR and r.name.startswith("mi_portal")
    ]
    if errors:
        pytest.fail("the app logged errors: " + "; ".join(r.getMessage() for r in errors))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The fault runs (minutes, a frontend build) run only when asked: ``-m faults`` (as
    ``make test-faults`` does) or ``MI_RUN_FAULTS=1``; a plain ``pytest tests/`` skips them."""
    markexpr = str(config.getoption("-m") or "")
    if "faults" in markexpr.replace("not faults", "") or os.environ.get("MI_RUN_FAULTS") == "1":
        return
    skip = pytest.mark.skip(reason="fault runs: make test-faults (-m faults or MI_RUN_FAULTS=1)")
    for item in items:
        if item.get_closest_marker("faults") is not None:
            item.add_marker(skip)
