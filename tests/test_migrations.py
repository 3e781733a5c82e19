"""The same Alembic revisions build, tear down and rebuild the schema on both databases."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, col, select

from mi_portal import migrations
from mi_portal.config import reset_settings
from mi_portal.db import dispose_engines, make_engine, tenant_session
from mi_portal.models import AuditEvent
from mi_portal.services import audit
from tests.conftest import empty_pg_database, use_database
from tests.factories import owner_session

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


# Revision 0012: the audit chains move to hashing a keyed digest of the personal details.


def _old_rule(event: AuditEvent) -> str:
    """How every link was hashed up to revision 0011: the personal details as they are."""
    payload = {
        "chain": event.chain,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "user_id": str(event.user_id) if event.user_id else None,
        "role": event.role,
        "home_tenant_id": str(event.home_tenant_id) if event.home_tenant_id else None,
        "tenant_id": str(event.tenant_id) if event.tenant_id else None,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "outcome": event.outcome,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "reason": event.reason,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _append_old_chain(chain: str, tenant_id: uuid.UUID | None, n: int) -> None:
    """``n`` events as the app wrote them before revision 0012 (no key, no personal digest)."""
    prev = audit.GENESIS
    start = datetime(2026, 6, 1, 9, 30, 15, 123456, tzinfo=UTC)
    with owner_session() as session:
        for seq in range(1, n + 1):
            event = AuditEvent(
                chain=chain,
                seq=seq,
                occurred_at=start + timedelta(seconds=seq),
                tenant_id=tenant_id,
                action="intake.submit",
                target_type="submission",
                target_id=f"case-{seq % 7}",
                ip="203.0.113.7",
                user_agent="Mozilla/5.0",
                reason="first visit" if seq % 2 else None,
                details={"n": seq, "email": "pat@example.org"},
                prev_hash=prev,
                hash="",
            )
            event.hash = prev = _old_rule(event)
            session.add(event)
        session.commit()


def _old_rule_holds(chain: str) -> bool:
    with owner_session() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.chain == chain).order_by(col(AuditEvent.seq))
        ).all()
    prev = audit.GENESIS
    for seq, event in enumerate(events, start=1):
        if event.seq != seq or event.prev_hash != prev or _old_rule(event) != event.hash:
            return False
        prev = event.hash
    return True


def _keys(chain: str) -> list[str | None]:
    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent.personal_key)
                .where(AuditEvent.chain == chain)
                .order_by(col(AuditEvent.seq))
            ).all()
        )


def _tenant_before_0014(admin: str, slug: str) -> uuid.UUID:
    """A clinic row as revision 0011 knew it (the model has columns added since)."""
    row_id = uuid.uuid4()
    table = sa.table(
        "tenant",
        sa.column("id", sa.Uuid),
        *(sa.column(name) for name in ("slug", "name", "quote_turnaround_hours")),
        *(sa.column(name) for name in ("currency", "locale", "quote_valid_days", "quote_terms")),
        sa.column("settings", sa.JSON),
        sa.column("active", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    engine = make_engine(admin)
    try:
        with engine.begin() as conn:
            conn.execute(
                table.insert().values(
                    id=row_id,
                    slug=slug,
                    name=slug.title(),
                    quote_turnaround_hours=48,
                    currency="USD",
                    locale="en_US",
                    quote_valid_days=30,
                    quote_terms="",
                    settings={},
                    active=True,
                    created_at=datetime.now(UTC),
                )
            )
    finally:
        engine.dispose()
    return row_id


@pytest.fixture
def at_0011(
    empty_database: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """A database built up to revision 0011, the app pointed at it: (owner URL, app URL)."""
    admin, app = empty_database
    migrations.upgrade("0011", admin_url=admin, app_url=app)
    use_database(monkeypatch, tmp_path, app, admin)
    try:
        yield admin, app
    finally:
        dispose_engines()
        reset_settings()


def test_existing_audit_chains_move_to_the_erasable_rule_and_back(
    at_0011: tuple[str, str],
) -> None:
    admin, app = at_0011
    clinic = _tenant_before_0014(admin, "clinic-a")
    # Longer than one page of the migration, so the links carry across pages.
    _append_old_chain(str(clinic), clinic, 2345)
    _append_old_chain("platform", None, 3)
    assert _old_rule_holds(str(clinic)) and _old_rule_holds("platform")

    migrations.upgrade(admin_url=admin, app_url=app)
    for chain in (str(clinic), "platform"):
        assert audit.verify_chain(chain) is None
        assert not _old_rule_holds(chain)
        keys = _keys(chain)
        assert None not in keys and len(set(keys)) == len(keys)  # a key of its own each
    # The moved chain survives an erasure and goes on growing.
    with tenant_session(clinic) as session:
        assert audit.erase_personal(session, ["case-3"]) == 335
        session.commit()
    audit.record(None, "intake.submit", tenant_id=clinic, ip="203.0.113.8")
    assert audit.verify_chain(str(clinic)) is None

    migrations.downgrade("0011", admin_url=admin)
    assert _old_rule_holds(str(clinic)) and _old_rule_holds("platform")
    migrations.upgrade(admin_url=admin, app_url=app)
    assert audit.verify_chain(str(clinic)) is None and audit.verify_chain("platform") is None


def test_a_chain_tampered_before_the_upgrade_stops_it(at_0011: tuple[str, str]) -> None:
    admin, app = at_0011
    clinic = _tenant_before_0014(admin, "clinic-a")
    _append_old_chain(str(clinic), clinic, 6)
    _append_old_chain("platform", None, 3)
    engine = make_engine(admin)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("update auditevent set ip = '10.0.0.9' where chain = :c and seq = 4"),
                {"c": str(clinic)},
            )
        with engine.connect() as conn:
            before = sorted(
                tuple(r) for r in conn.execute(sa.text("select id, hash from auditevent"))
            )
        with pytest.raises(RuntimeError, match=rf"audit chain {clinic} is broken at entry #4 "):
            migrations.upgrade(admin_url=admin, app_url=app)
        assert migrations.current_revision(admin) == "0011"
        with engine.connect() as conn:
            after = sorted(
                tuple(r) for r in conn.execute(sa.text("select id, hash from auditevent"))
            )
            keys = conn.execute(
                sa.text("select count(*) from auditevent where personal_key is not null")
            ).scalar()
        # Nothing was re-hashed, not even the chains that verify.
        assert after == before and keys == 0
    finally:
        engine.dispose()


@pytest.fixture
def at_0013(
    empty_database: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """A database built up to revision 0013, the app pointed at it: (owner URL, app URL)."""
    admin, app = empty_database
    migrations.upgrade("0013", admin_url=admin, app_url=app)
    use_database(monkeypatch, tmp_path, app, admin)
    try:
        yield admin, app
    finally:
        dispose_engines()
        reset_settings()


def _rows_0013(name: str, *columns: str) -> sa.TableClause:
    """A table with the columns it had at 0013 (ids as UUIDs, times timezone-aware)."""
    kinds = {"id": sa.Uuid, "tenant_id": sa.Uuid, "patient_id": sa.Uuid, "thread_id": sa.Uuid}
    kinds |= {"submission_id": sa.Uuid, "answers": sa.JSON}
    return sa.table(
        name,
        *(
            sa.column(
                c, kinds.get(c, sa.DateTime(timezone=True) if c.endswith("_at") else sa.String)
            )
            for c in columns
        ),
    )


def test_cases_answered_before_0014_keep_their_first_reply(at_0013: tuple[str, str]) -> None:
    from mi_portal.models import Submission, Tenant
    from mi_portal.services import sla_settings

    admin, app = at_0013
    clinic = _tenant_before_0014(admin, "clinic-a")
    now = datetime.now(UTC).replace(microsecond=0)
    received = now - timedelta(days=10)
    patient = _rows_0013("patient", "tenant_id", "id", "full_name", "email", "created_at")
    case = _rows_0013(
        "submission", "tenant_id", "id", "patient_id", "status", "concern_area", "answers",
        "received_at", "last_activity_at",
    )  # fmt: skip
    thread = _rows_0013(
        "messagethread", "tenant_id", "id", "submission_id", "subject", "created_at"
    )
    message = _rows_0013(
        "message", "tenant_id", "id", "thread_id", "direction", "body", "created_at"
    )
    answered, waiting, patient_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    engine = make_engine(admin)
    try:
        with engine.begin() as conn:
            conn.execute(
                patient.insert().values(
                    tenant_id=clinic, id=patient_id, full_name="P", email="p@x.test",
                    created_at=received,
                )
            )  # fmt: skip
            for case_id in (answered, waiting):
                conn.execute(
                    case.insert().values(
                        tenant_id=clinic, id=case_id, patient_id=patient_id, status="in_review",
                        concern_area="acne", answers={}, received_at=received,
                        last_activity_at=received,
                    )
                )  # fmt: skip
                thread_id = uuid.uuid4()
                conn.execute(
                    thread.insert().values(
                        tenant_id=clinic, id=thread_id, submission_id=case_id, subject="",
                        created_at=received,
                    )
                )  # fmt: skip
                # The waiting case only heard from the patient; the answered one was written
                # to twice (the first reply counts), after a message from the patient.
                sent = [("inbound", 1)] + (
                    [("outbound", 3), ("outbound", 2)] if case_id == answered else []
                )
                for direction, hours in sent:
                    conn.execute(
                        message.insert().values(
                            tenant_id=clinic, id=uuid.uuid4(), thread_id=thread_id,
                            direction=direction, body="…", created_at=received + timedelta(hours=hours),
                        )
                    )  # fmt: skip
    finally:
        engine.dispose()

    migrations.upgrade(admin_url=admin, app_url=app)
    with tenant_session(clinic) as session:
        first = {
            s.id: s.first_response_at
            for s in session.exec(select(Submission).where(col(Submission.tenant_id) == clinic))
        }
        assert first == {answered: received + timedelta(hours=2), waiting: None}
        tenant = session.get(Tenant, clinic)
        assert tenant is not None
        sla_settings.recalculate_open_cases(session, tenant)
        session.commit()
    with tenant_session(clinic) as session:
        due = {
            s.id: s.first_response_due_at
            for s in session.exec(select(Submission).where(col(Submission.tenant_id) == clinic))
        }
    # The answered case gets no first-reply due time (it would be long past: "missed").
    assert due[answered] is None and due[waiting] is not None


@pytest.fixture
def at_0014(
    empty_database: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """A database built up to revision 0014, the app pointed at it: (owner URL, app URL)."""
    admin, app = empty_database
    migrations.upgrade("0014", admin_url=admin, app_url=app)
    use_database(monkeypatch, tmp_path, app, admin)
    try:
        yield admin, app
    finally:
        dispose_engines()
        reset_settings()


def test_cases_before_0015_get_their_source_and_first_review(at_0014: tuple[str, str]) -> None:
    from mi_portal.models import Submission

    admin, app = at_0014
    clinic = _tenant_before_0014(admin, "clinic-a")
    received = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    hour = timedelta(hours=1)
    patient = _rows_0013("patient", "tenant_id", "id", "full_name", "email", "created_at")
    case = _rows_0013(
        "submission", "tenant_id", "id", "patient_id", "status", "concern_area", "answers",
        "received_at", "last_activity_at", "first_response_at", "quote_sent_at",
    )  # fmt: skip
    consent = sa.table(
        "consentrecord",
        *(sa.column(c, sa.Uuid) for c in ("tenant_id", "id", "patient_id")),
        *(sa.column(c, sa.String) for c in ("kind", "text_version", "source")),
        sa.column("granted", sa.Boolean),
        sa.column("recorded_at", sa.DateTime(timezone=True)),
    )
    # name: (status, consent source of the privacy acknowledgement, first reply, first quote)
    cases = {
        "new": ("new", "directory", None, None),
        "replied": ("in_review", "clinic_page:clinic-a", 2, None),
        "quoted": ("quoted", "directory", None, 5),
        "both": ("accepted", "demo_seed", 3, 4),
        "quiet": ("in_review", None, None, None),
        "dropped": ("archived", "directory", None, None),
        "archived_late": ("archived", "clinic_page:clinic-a", None, 6),
    }
    ids = {name: uuid.uuid4() for name in cases}
    engine = make_engine(admin)
    try:
        with engine.begin() as conn:
            for name, (status, source, replied, quoted) in cases.items():
                patient_id = uuid.uuid4()
                conn.execute(
                    patient.insert().values(
                        tenant_id=clinic, id=patient_id, full_name="P", email="p@x.test",
                        created_at=received,
                    )
                )  # fmt: skip
                conn.execute(
                    case.insert().values(
                        tenant_id=clinic, id=ids[name], patient_id=patient_id, status=status,
                        concern_area="acne", answers={}, received_at=received,
                        last_activity_at=received + 9 * hour,
                        first_response_at=received + replied * hour if replied else None,
                        quote_sent_at=received + quoted * hour if quoted else None,
                    )
                )  # fmt: skip
                for kind, src in (("privacy_ack", source), ("sms_opt_in", "directory")):
                    if src is None:
                        continue
                    conn.execute(
                        consent.insert().values(
                            tenant_id=clinic, id=uuid.uuid4(), patient_id=patient_id, kind=kind,
                            text_version="v1", source=src, granted=True, recorded_at=received,
                        )
                    )  # fmt: skip
    finally:
        engine.dispose()

    migrations.upgrade(admin_url=admin, app_url=app)
    with tenant_session(clinic) as session:
        rows = {
            s.id: (s.source, s.reviewed_at)
            for s in session.exec(select(Submission).where(col(Submission.tenant_id) == clinic))
        }
    got = {name: rows[ids[name]] for name in cases}
    assert got == {
        "new": ("directory", None),
        "replied": ("clinic_page", received + 2 * hour),
        "quoted": ("directory", received + 5 * hour),
        "both": ("clinic_page", received + 3 * hour),
        "quiet": ("clinic_page", received + 9 * hour),
        "dropped": ("directory", None),
        "archived_late": ("clinic_page", received + 6 * hour),
    }
    migrations.downgrade("0014", admin_url=admin)
    migrations.upgrade(admin_url=admin, app_url=app)
