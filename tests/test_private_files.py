"""Files the app creates under its data folder are readable by its own user only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from mi_portal.config import get_settings, reset_settings
from mi_portal.db import make_engine


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_folder_secret_key_and_sqlite_files_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "deep" / "data"
    monkeypatch.delenv("MI_SECRET_KEY", raising=False)
    monkeypatch.setenv("MI_DATA_DIR", str(data))
    monkeypatch.delenv("MI_DATABASE_URL", raising=False)
    monkeypatch.delenv("MI_ADMIN_DATABASE_URL", raising=False)
    reset_settings()
    try:
        settings = get_settings()
        assert _mode(data) == 0o700 and _mode(data.parent) == 0o700
        assert _mode(data / "secret_key") == 0o600
        engine = make_engine(settings.database_url)
        with engine.begin() as conn:
            conn.execute(sa.text("create table probe (x integer)"))
            conn.execute(sa.text("insert into probe values (1)"))
        files = sorted(p.name for p in data.iterdir())
        assert "mi_portal.db" in files and "mi_portal.db-wal" in files
        for name in files:
            assert _mode(data / name) == 0o600, name
        engine.dispose()
    finally:
        reset_settings()


def test_an_older_world_readable_data_folder_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    monkeypatch.delenv("MI_SECRET_KEY", raising=False)
    monkeypatch.setenv("MI_DATA_DIR", str(data))
    reset_settings()
    try:
        get_settings()
        assert _mode(data) == 0o700
    finally:
        reset_settings()
