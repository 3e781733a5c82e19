"""The same Alembic revisions build, tear down and rebuild the schema on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from mi_portal import migrations
from mi_portal.db import make_engine
from tests.conftest import empty_pg_database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A database with no tables at all: (owner URL, app URL)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        yield url, url
        return
    with empty_pg_database("mi_mig") as urls:
        yield urls


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _schema_drift(url: str) -> list:  # type: ignore[type-arg]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False})
            return compare_metadata(ctx, SQLModel.metadata)
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_database: tuple[str, str]) -> None:
    admin, app = empty_database
    expected = {t.name for t in SQLModel.metadata.sorted_tables}
    migrations.upgrade(admin_url=admin, app_url=app)
    assert _tables(admin) == expected
    assert _schema_drift(admin) == [], "models and migrations disagree: write a revision"
    migrations.downgrade("base", admin_url=admin)
    assert _tables(admin) == set()
    migrations.upgrade(admin_url=admin, app_url=app)
    assert _tables(admin) == expected
    assert migrations.current_revision(admin) is not None


def test_console_script_upgrades_a_fresh_sqlite_database(tmp_path: Path) -> None:
    env = {**os.environ, "MI_DATA_DIR": str(tmp_path / "data")}
    env.pop("MI_DATABASE_URL", None)
    env.pop("MI_ADMIN_DATABASE_URL", None)
    script = Path(sys.executable).parent / "mi-portal"
    for _ in range(2):  # running it twice is harmless
        result = subprocess.run(
            [str(script), "db", "upgrade"], env=env, capture_output=True, text=True, cwd=ROOT
        )
        assert result.returncode == 0, result.stderr
    assert "submission" in _tables(f"sqlite:///{tmp_path / 'data' / 'mi_portal.db'}")
