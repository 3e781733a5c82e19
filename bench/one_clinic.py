"""One clinic of the load test's data in a throw-away database, its first coordinator signed in:
the set-up of the benchmarks that measure one page or route in one process."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.pg_database import drop_database, new_database


@dataclass(frozen=True)
class SignedInClinic:
    token: str  # the coordinator's session token (the ``mi_session`` cookie)
    coordinator: uuid.UUID
    clinic: Any  # bench.load_data's clinic manifest: ``case_ids``, ``user_ids`` …


@contextlib.contextmanager
def signed_in_clinic(prefix: str, cases: int, *, app: bool = False) -> Iterator[SignedInClinic]:
    """A new PostgreSQL database made through the project's migrations (the server from
    ``MI_ADMIN_DATABASE_URL``), one clinic with ``cases`` cases of ``bench/load_data.py`` (photos
    in a local folder), its first coordinator signed in with the second step passed, and this
    process's session cache listening as a worker's. ``app``: the app's states are imported
    first, as a worker has them. Dropped afterwards."""
    name, role, admin, app = new_database(prefix)
    folder = Path(tempfile.mkdtemp(prefix=f"{prefix.replace('_', '-')}-"))
    os.environ.update(
        MI_DATABASE_URL=app,
        MI_ADMIN_DATABASE_URL=admin,
        MI_DATA_DIR=str(folder / "data"),
        MI_STORAGE=f"file://{folder / 'objects'}",
    )
    from mi_portal.config import reset_settings

    reset_settings()
    try:
        if app:
            import mi_portal.mi_portal  # noqa: F401

        from bench import load_data
        from mi_portal.db import dispose_engines
        from mi_portal.services import auth, session_cache

        manifest = load_data.create(1, cases, progress=False)
        clinic = manifest.clinics[0]
        coordinator = uuid.UUID(clinic.user_ids[1])  # the first coordinator (ROLES order)
        browser = "bench-browser"
        ticket = auth.start_session(
            coordinator, mfa_passed=True, ip="127.0.0.1", user_agent="bench", browser=browser
        )
        token = auth.redeem_ticket(ticket, browser=browser)
        assert token is not None
        session_cache.start()
        try:
            deadline = time.monotonic() + 10
            while not session_cache.cache.live and time.monotonic() < deadline:
                time.sleep(0.05)
            yield SignedInClinic(token, coordinator, clinic)
        finally:
            session_cache.stop()
            dispose_engines()
    finally:
        drop_database(name, role)
