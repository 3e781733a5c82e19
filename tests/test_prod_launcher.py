"""``make prod``'s launcher: what it derives from the environment, and the database it makes."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from mi_portal.db_roles import ensure_database
from mi_portal.jobs.prod import ProdShape
from tests.conftest import PG_SERVER_URL, _pg_reachable


def test_the_shape_from_its_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "WORKERS", "PROD_PG", "PROD_DB", "MI_STORAGE", "REFLEX_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PROD_APP_PASSWORD", "p@ss:word")
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

    monkeypatch.setenv("WORKERS", "4")
    monkeypatch.setenv("PORT", "3100")
    monkeypatch.setenv("MI_STORAGE", "s3://real-bucket?region=eu-west-1")
    shape = ProdShape.from_env()
    env = shape.app_env()
    assert (env["GRANIAN_WORKERS"], env["MI_FRONTEND_ORIGIN"]) == ("4", "http://localhost:3100")
    assert env["MI_STORAGE"] == "s3://real-bucket?region=eu-west-1"  # no moto then


@pytest.mark.postgres
def test_the_database_is_created_and_made_afresh() -> None:
    problem = _pg_reachable()
    if problem:
        pytest.skip(problem)
    name = f"mi_prodtest_{secrets.token_hex(4)}"
    server = PG_SERVER_URL
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        assert ensure_database(server, name) is True
        assert ensure_database(server, name) is False  # already there: kept
        with sa.create_engine(server.rsplit("/", 1)[0] + f"/{name}").begin() as conn:
            conn.execute(sa.text("create table marker (id int)"))
        assert ensure_database(server, name, fresh=True) is True  # dropped and made again
        probe = sa.create_engine(server.rsplit("/", 1)[0] + f"/{name}")
        with probe.connect() as conn:
            tables = conn.execute(
                sa.text("select count(*) from pg_tables where tablename = 'marker'")
            )
            assert tables.scalar_one() == 0
        probe.dispose()
    finally:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
