"""The sweep killed by SIGKILL at every step (and in the middle of one), then run again.

The sweep runs in its own process (tests/retention_driver.py) against the test's database and
store and kills itself at a failpoint: between a step's changes and their commit, just after the
commit, right after planning, or after only some objects of a batch were purged. The test then
runs the sweep normally and checks the outcome: the storage check is clean, every planned case
has exactly one item, proved once, every object of a planned case is gone, and every other row
and object of both clinics is byte-identical to what it was before the first run.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    LegalHold,
    RetentionItem,
    RetentionRun,
    Role,
    Submission,
    Tenant,
    utcnow,
)
from mi_portal.services import clock, intake, retention, retention_rules, storage_check
from mi_portal.services.actor import Actor
from mi_portal.services.images import ProcessedImage
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_tenant
from tests.intake_helpers import form, photos

ROOT = Path(__file__).resolve().parents[2]
NOW_DAYS = 4000
# Tables the sweep itself writes to (its bookkeeping) and the audit log (checked separately).
BOOKKEEPING = {"retentionitem", "retentionrun", "auditevent"}
# Where the sweep is killed, and the item states it leaves (batch 1, batch 2).
LEFT = {
    "plan": "planned planned",
    # Past the checks (committed), objects purged, the step's own commit not reached.
    "_delete_objects:before:1": "deleting planned",
    # (The same state as _verify_objects:before:1.)
    "_delete_objects:after:1": "objects_deleted planned",
    # The first case's four renditions purged, then two of the second case's.
    "purge:6": "deleting planned",
    "_verify_objects:after:1": "verified planned",
    # Rows changed, not committed: the database rolls them back.
    "_change_rows:before:1": "verified planned",
    # (The same state as _record_proof:before:1.)
    "_change_rows:after:1": "rows_done planned",
    "_record_proof:after:1": "proved planned",
    "_change_rows:before:2": "proved verified",
}
FAILPOINTS = list(LEFT)
# On SQLite (the embedded default) a subset: the kills whose recovery differs most.
SQLITE_FAILPOINTS = ["purge:6", "_change_rows:before:1", "_change_rows:before:2"]


@functools.cache
def _photos() -> list[ProcessedImage]:
    return photos(1)


def _intake(slug: str, email: str) -> uuid.UUID:
    intake.submit(
        clinic_slugs=[slug],
        form=form(email=email, full_name=f"Patient {email.split('@')[0]}"),
        photos=_photos(),
        ip="203.0.113.9",
        user_agent="Patient browser",
        source="clinic_page",
    )
    with platform_session() as session:
        tenant_id = session.exec(select(Tenant.id).where(Tenant.slug == slug)).one()
    with tenant_session(tenant_id) as session:
        return session.exec(select(Submission.id).order_by(col(Submission.id).desc())).first()  # type: ignore[return-value]


class World:
    """Clinic A: two fully due cases, two partly due (a later note), one held on the case, one
    held on its patient, one too young; clinic B: one old case. A's policies all delete."""

    def __init__(self) -> None:
        start = utcnow()
        self.now = start + timedelta(days=NOW_DAYS)
        self.a, self.b = make_tenant("clinic-a"), make_tenant("clinic-b")
        owner = Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=self.a)
        retention_rules.save_policies(
            owner, {c.category: (c.default_days, "delete") for c in retention_rules.CATEGORIES}
        )
        self.full = [_intake("clinic-a", f"full{i}@example.org") for i in range(2)]
        self.partial = [_intake("clinic-a", f"part{i}@example.org") for i in range(2)]
        self.held_case = _intake("clinic-a", "held@example.org")
        self.held_patient = _intake("clinic-a", "heldp@example.org")
        self.other = _intake("clinic-b", "other@example.org")
        with tenant_session(self.a) as session:
            patient = session.get(Submission, (self.a, self.held_patient)).patient_id  # type: ignore[union-attr]
            session.add(LegalHold(submission_id=self.held_case, reason="dispute"))
            session.add(LegalHold(patient_id=patient, reason="claim"))
            session.commit()
        # Commercial data (2555 days) of these two is not due at NOW_DAYS: they stay, cleared.
        for case_id in self.partial:
            _note(self.a, case_id, start + timedelta(days=2000))
        clock.set_clock(lambda: self.now - timedelta(days=10))
        self.young = _intake("clinic-a", "young@example.org")
        clock.set_clock(lambda: self.now)

    @property
    def planned(self) -> list[uuid.UUID]:
        return [*self.full, *self.partial]


def _note(tenant_id: uuid.UUID, case_id: uuid.UUID, moment: datetime) -> None:
    from mi_portal.models import CaseNote

    with tenant_session(tenant_id) as session:
        session.add(CaseNote(submission_id=case_id, body="Follow-up", created_at=moment))
        session.commit()


def _dump(database: Database) -> dict[tuple[str, tuple[str, ...]], dict[str, str]]:
    """Every row of every table, as the database's owner (past row-level security)."""
    rows: dict[tuple[str, tuple[str, ...]], dict[str, str]] = {}
    with database.admin_engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            pk = [c.name for c in table.primary_key.columns]
            for row in conn.execute(sa.select(table)).mappings():
                values = {k: repr(v) for k, v in row.items()}
                rows[(table.name, tuple(str(row[c]) for c in pk))] = values
    return rows


def _related(
    dump: dict[tuple[str, tuple[str, ...]], dict[str, str]], seeds: set[str]
) -> set[tuple[str, tuple[str, ...]]]:
    """Rows that belong to the seed cases: those naming a seed id, and so on to a fixpoint (a
    rendition names its image, which names its case)."""
    ids = set(seeds)
    related: set[tuple[str, tuple[str, ...]]] = set()
    while True:
        grown = False
        for key, values in dump.items():
            if key in related:
                continue
            if any(any(i in v for i in ids) for v in values.values()):
                related.add(key)
                own = values.get("id")
                if own:
                    ids.add(own.removeprefix("UUID('").removesuffix("')"))
                grown = True
        if not grown:
            return related


def _objects() -> dict[str, bytes]:
    store = get_store()
    return {key: store.get(key) for key, _modified in store.listing()}


def _driver(world: World, failpoint: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MI_RETENTION_KILL_AFTER": failpoint,
        "MI_RETENTION_BATCH": "2",
    }
    return subprocess.run(
        [sys.executable, "-m", "tests.retention_driver", str(world.a), world.now.isoformat()],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _items() -> list[RetentionItem]:
    with platform_session() as session:
        tenant_id = session.exec(select(Tenant.id).where(Tenant.slug == "clinic-a")).one()
    with tenant_session(tenant_id) as session:
        return list(session.exec(select(RetentionItem)))


def _killed_then_rerun(database: Database, world: World, failpoint: str) -> None:
    rows_before, objects_before = _dump(database), _objects()
    planned_ids = {str(i) for i in world.planned}
    patients = {
        v["patient_id"].removeprefix("UUID('").removesuffix("')")
        for k, v in rows_before.items()
        if k[0] == "submission" and k[1][1] in planned_ids
    }
    planned_rows = _related(rows_before, planned_ids | patients)
    planned_keys = {
        v["storage_key"].strip("'")
        for k, v in rows_before.items()
        if k in planned_rows and "storage_key" in v
    }
    assert len(planned_keys) == 16  # four cases, one photo, four renditions each

    killed = _driver(world, failpoint)
    assert killed.returncode == -signal.SIGKILL, (failpoint, killed.stdout, killed.stderr)

    # What the killed run left: the rerun must finish exactly that.
    left = _items()
    first, second = LEFT[failpoint].split()
    assert sorted(i.state for i in left) == sorted([first, first, second, second]), failpoint
    proved_before = sum(i.state == "proved" for i in left)
    assert all(i.state != "failed" for i in left)
    result = retention.sweep(world.a)
    assert result.line() == (
        f"planned={len(world.planned) - len(left)} purged={len(world.planned) - proved_before} "
        "deidentified=0 held=2 failed=0"
    ), failpoint

    # Every planned case has exactly one item, proved, and appears once in the proofs.
    items = _items()
    assert sorted(str(i.submission_id) for i in items) == sorted(planned_ids)
    assert {i.state for i in items} == {"proved"}
    with tenant_session(world.a) as session:
        run_ids = [run.id for run in session.exec(select(RetentionRun))]
        cases = {c.id: c for c in session.exec(select(Submission))}
    owner = Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=world.a)
    proofs = [retention.proof_document(owner, run_id) for run_id in run_ids]
    hashes = [e["subject_sha256"] for p in proofs for e in p["items"]]
    assert sorted(hashes) == sorted(retention.subject_hash(uuid.UUID(i)) for i in planned_ids)

    # The planned cases' outcome: the fully due ones gone, the others cleared but commercial.
    assert not set(world.full) & set(cases)
    for case_id in world.partial:
        expected = sorted(c.category for c in retention_rules.CATEGORIES)
        expected.remove("commercial")
        assert sorted(cases[case_id].retention_cleared) == expected

    report = storage_check.check()
    assert report.orphan_objects == [] and report.missing_objects == []
    objects_after = _objects()
    assert not planned_keys & set(objects_after)
    assert objects_after == {k: v for k, v in objects_before.items() if k not in planned_keys}

    # Every row of every other case, and of clinic B, is byte-identical (audit log included).
    rows_after = _dump(database)
    a = str(world.a)
    for key, values in rows_before.items():
        if key in planned_rows or key[0] in BOOKKEEPING - {"auditevent"}:
            continue
        if key[0] == "auditevent" and any(i in str(values) for i in planned_ids):
            continue  # events about a planned case may have had their personal details erased
        assert rows_after.get(key) == values, (failpoint, key)
    for key, values in rows_after.items():
        if key not in rows_before:
            # New rows: the sweep's own bookkeeping in clinic A, and its audit entry.
            assert key[0] in BOOKKEEPING and a in values["tenant_id"], (failpoint, key)

    # A further run has nothing left to do.
    assert retention.sweep(world.a).line() == ("planned=0 purged=0 deidentified=0 held=2 failed=0")


@pytest.mark.parametrize("failpoint", FAILPOINTS)
def test_killed_sweep_finishes_on_the_next_run_postgres(pg: Database, failpoint: str) -> None:
    world = World()
    try:
        _killed_then_rerun(pg, world, failpoint)
    finally:
        clock.set_clock(None)


@pytest.mark.parametrize("failpoint", SQLITE_FAILPOINTS)
def test_killed_sweep_finishes_on_the_next_run_sqlite(sqlite_db: Database, failpoint: str) -> None:
    world = World()
    try:
        _killed_then_rerun(sqlite_db, world, failpoint)
    finally:
        clock.set_clock(None)
