"""``make prod``'s launcher: what it derives from the environment, and the database it makes."""

from __future__ import annotations

import contextlib
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from mi_portal import db_roles
from mi_portal.jobs import prod
from mi_portal.jobs.prod import ProdShape, Refused, database_plan
from tests.conftest import PG_SERVER_URL, _pg_reachable

SHAPE_VARIABLES = (
    "PORT",
    "WORKERS",
    "PROD_PG",
    "PROD_DB",
    "MI_STORAGE",
    "REFLEX_REDIS_URL",
    "PROD_APP_PASSWORD",
    "FRESH",
    "PROD_FRESH",
    "MI_ADMIN_DATABASE_URL",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in SHAPE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MI_DATA_DIR", str(tmp_path / "prod"))
    return tmp_path / "prod"


def test_the_shape_from_its_variables(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    monkeypatch.setenv("PROD_APP_PASSWORD", "p@ss:word")
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    shape = ProdShape.from_env()
    assert (shape.port, shape.workers, shape.database) == (3000, 2, "mi_prod")
    assert shape.admin_url == "postgresql+psycopg://postgres@127.0.0.1:5432/mi_prod"
    # The app connects as its own role; the password is quoted into the URL.
    assert shape.app_url == "postgresql+psycopg://mi_app:p%40ss%3Aword@127.0.0.1:5432/mi_prod"
    env = shape.app_env()
    assert env["GRANIAN_WORKERS"] == "2"  # Reflex 0.10 reads the worker count from here
    assert env["REFLEX_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert env["MI_OUTBOX_IN_PROCESS"] == "1"
    assert env["MI_STORAGE"] == (
        "s3://mi-prod-photos?region=us-east-1&endpoint_url=http://127.0.0.1:5005"
    )
    assert env["MI_FRONTEND_ORIGIN"] == "http://localhost:3000"
    assert env["MALLOC_ARENA_MAX"] == "2"  # the threaded workers' memory (README)
    assert shape.fresh is False  # the data is kept unless FRESH=1

    monkeypatch.setenv("WORKERS", "4")
    monkeypatch.setenv("PORT", "3100")
    monkeypatch.setenv("MI_STORAGE", "s3://real-bucket?region=eu-west-1")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    shape = ProdShape.from_env()
    env = shape.app_env()
    assert env["MALLOC_ARENA_MAX"] == "4"  # an operator's own setting is kept
    assert (env["GRANIAN_WORKERS"], env["MI_FRONTEND_ORIGIN"]) == ("4", "http://localhost:3100")
    assert env["MI_STORAGE"] == "s3://real-bucket?region=eu-west-1"  # no moto then


def test_the_app_role_password_is_made_once_and_kept_private(clean_env: Path) -> None:
    first = ProdShape.from_env()
    again = ProdShape.from_env()
    assert first.app_password == again.app_password  # the same across starts
    assert len(first.app_password) >= 24 and first.app_password != "mi-app-local"
    stored = clean_env / "app-role-password"
    assert stored.read_text().strip() == first.app_password
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert make_url(first.app_url).password == first.app_password


def test_the_workers_get_the_app_role_and_never_the_owner(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    monkeypatch.setenv("MI_ADMIN_DATABASE_URL", "postgresql+psycopg://postgres@elsewhere/x")
    monkeypatch.setenv("REFLEX_REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0")
    shape = ProdShape.from_env()
    started: list[tuple[str, list[str], dict[str, str]]] = []

    @contextlib.contextmanager
    def fake_started(name: str, argv: list[str], env: dict[str, str], **_: Any) -> Iterator[Any]:
        started.append((name, argv, env))
        yield SimpleNamespace(wait=lambda: 0)

    @contextlib.contextmanager
    def no_moto(_shape: ProdShape, _env: dict[str, str]) -> Iterator[None]:
        yield

    monkeypatch.setattr(prod, "started", fake_started)
    monkeypatch.setattr(prod, "moto", no_moto)
    monkeypatch.setattr(prod, "prepare", lambda _shape, _env: None)
    monkeypatch.setattr(prod, "check_redis_persistence", lambda _url: None)
    monkeypatch.setattr(prod.signal, "signal", lambda *_args: None)
    printed: list[str] = []
    monkeypatch.setattr(prod, "say", printed.append)
    assert prod.launch(shape) == 0
    [(name, argv, env)] = started
    assert name == "app" and argv[argv.index("backend") + 1 :][:3] == ["run", "--env", "prod"]
    url = make_url(env["MI_DATABASE_URL"])
    assert (url.username, url.database) == ("mi_app", "mi_prod")
    assert "MI_ADMIN_DATABASE_URL" not in env  # not even the one the launcher was started with
    assert all("s3cret" not in line for line in printed)  # the Redis password is masked
    assert any("redis://:***@127.0.0.1:6379/0" in line for line in printed)
    # Only the migrations get the owner.
    owner = shape.owner_env()
    assert make_url(owner["MI_ADMIN_DATABASE_URL"]).username == "postgres"
    assert owner["MI_DATABASE_URL"] == env["MI_DATABASE_URL"]


def test_fresh_is_asked_for_and_read_in_any_case(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    for value, fresh in (("1", True), ("YES", True), ("True", True), ("0", False), ("", False)):
        monkeypatch.setenv("FRESH", value)
        assert ProdShape.from_env().fresh is fresh, value


def test_what_happens_to_the_database_at_start() -> None:
    def plan(**facts: bool) -> str:
        base = {"fresh": False, "real_store": False, "exists": True, "made_by_prod": True}
        action, message = database_plan(**{**base, **facts}, name="mi_prod")
        assert "mi_prod" in message
        return action

    assert plan(exists=False) == "create"
    assert plan(exists=False, fresh=True, real_store=True) == "create"
    assert plan() == "keep"  # the default keeps the data
    _, message = database_plan(
        fresh=False, real_store=False, exists=True, made_by_prod=True, name="mi_prod"
    )
    assert "moto starts empty" in message and "FRESH=1" in message  # said, not hidden
    assert plan(real_store=True) == "keep"
    assert plan(fresh=True) == "recreate"
    with pytest.raises(Refused, match="real store"):
        plan(fresh=True, real_store=True)  # never with a real store's objects
    with pytest.raises(Refused, match="not made by make prod"):
        plan(fresh=True, made_by_prod=False)


def test_masked_hides_only_the_password() -> None:
    assert prod.masked("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert prod.masked("redis://u:pw@h:1/2") == "redis://u:***@h:1/2"
    assert prod.masked("redis://:pw@h/0") == "redis://:***@h/0"


@pytest.mark.postgres
def test_the_database_is_made_kept_and_dropped_only_when_marked() -> None:
    problem = _pg_reachable()
    if problem:
        pytest.skip(problem)
    name = f"mi_prodtest_{secrets.token_hex(4)}"
    other = f"mi_prodtest_{secrets.token_hex(4)}"
    server = PG_SERVER_URL
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        assert db_roles.database_facts(server, name) == (False, False)
        db_roles.create_database(server, name)
        assert db_roles.database_facts(server, name) == (True, True)
        with sa.create_engine(server.rsplit("/", 1)[0] + f"/{name}").begin() as conn:
            conn.execute(sa.text("create table marker (id int)"))
        db_roles.drop_database(server, name)
        assert db_roles.database_facts(server, name) == (False, False)
        with engine.connect() as conn:  # a database somebody else made
            conn.execute(sa.text(f'CREATE DATABASE "{other}"'))
        assert db_roles.database_facts(server, other) == (True, False)
        with pytest.raises(RuntimeError, match="not made by make prod"):
            db_roles.drop_database(server, other)
        assert db_roles.database_facts(server, other) == (True, False)  # still there
    finally:
        with engine.connect() as conn:
            for db in (name, other):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        engine.dispose()


def test_a_persisting_redis_is_warned_about() -> None:
    assert prod.persistence_warning("", "no") is None  # this machine's Redis
    assert prod.persistence_warning("3600 1 300 100", "no")
    assert prod.persistence_warning("", "yes")
