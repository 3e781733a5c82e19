"""The audit chain: verify finds every planted edit, deletion and reordering."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from mi_portal.db import TenantScopeError, platform_session, tenant_session
from mi_portal.models import AuditEvent, Role
from mi_portal.services import audit
from mi_portal.services.actor import Actor
from tests.conftest import Database
from tests.factories import make_tenant, make_user

N = 8


def _fill(tenant_id) -> str:  # type: ignore[no-untyped-def]
    actor = Actor(
        user_id=None,
        role=Role.CLINIC_MANAGER,
        tenant_id=tenant_id,
        ip="127.0.0.1",
        user_agent="pytest",
    )
    for i in range(N):
        audit.record(actor, "case.view", target_type="submission", target_id=f"case-{i}")
    return audit.chain_for(tenant_id)


def _admin(db: Database, sql: str, **params: object) -> None:
    """Tamper as the database's owner, who can also switch off the triggers that stop the app."""
    with db.admin_engine.begin() as conn:
        if db.kind == "postgres":
            conn.execute(sa.text("alter table auditevent disable trigger user"))
        conn.execute(sa.text(sql), params)
        if db.kind == "postgres":
            conn.execute(sa.text("alter table auditevent enable trigger user"))


def test_chain_verifies_and_is_per_tenant(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    chain_a, chain_b = _fill(a), _fill(b)
    assert audit.verify_chain(chain_a) is None and audit.verify_chain(chain_b) is None
    assert audit.chain_length(chain_a) == N
    assert audit.chains() == sorted({chain_a, chain_b, "platform"})
    assert audit.chains("clinic-a") == [chain_a]


def test_many_appends_at_once_all_land_in_one_unbroken_chain(db: Database) -> None:
    """A page of thumbnails fetches (and audits) dozens of photos at the same moment."""
    from concurrent.futures import ThreadPoolExecutor

    a = make_tenant("clinic-a")
    actor = Actor(user_id=None, role=Role.CLINIC_MANAGER, tenant_id=a)
    with ThreadPoolExecutor(max_workers=16) as pool:
        events = list(
            pool.map(lambda i: audit.record(actor, "image.fetch", details={"n": i}), range(64))
        )
    chain = str(a)
    assert sorted(e.seq for e in events) == list(range(1, 65))
    assert audit.chain_length(chain) == 64 and audit.verify_chain(chain) is None


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_the_three_ways_of_appending_at_once_keep_one_unbroken_chain(db: Database) -> None:
    """Events in a transaction of their own (``record``), a staff action's event in the
    action's own transaction (``record_in``) and a page's looks committed in the page's
    transaction, which may have written before (``Batch.commit_in``), all at once from
    several threads: each takes the chain's lock before it reads the head, on SQLite too, and
    none waits for another that waits for it."""
    from concurrent.futures import ThreadPoolExecutor

    from mi_portal.models import CaseNote, Submission
    from mi_portal.services import cases
    from tests.factories import make_case

    a = make_tenant("clinic-a")
    user, _ = make_user("coordinator@a.test", role="coordinator", tenants=(a,))
    actor = Actor(user_id=user, role=Role.COORDINATOR, tenant_id=a)
    case_id = make_case(a)[1]

    def own(i: int) -> None:
        audit.record(actor, "image.fetch", details={"n": i})

    def action(i: int) -> None:
        cases.add_note(actor, case_id, f"note {i}")

    def page(i: int) -> None:
        with audit.together() as looks:
            audit.record(actor, "case.view", target_type="submission", target_id=case_id)
            with tenant_session(a) as session:
                assert session.exec(select(Submission)).all()
                if i % 2:  # every other page has written first (on SQLite: holds the lock)
                    session.add(CaseNote(submission_id=case_id, author_id=user, body=f"p{i}"))
                    session.flush()
                looks.commit_in(session)

    kinds = (own, action, page)
    with ThreadPoolExecutor(max_workers=9) as pool:
        for job in [pool.submit(kinds[i % 3], i) for i in range(36)]:
            job.result()
    chain = str(a)
    assert audit.chain_length(chain) == 36 and audit.verify_chain(chain) is None
    with tenant_session(a) as session:
        assert len(session.exec(select(CaseNote)).all()) == 12 + 6
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.chain == chain)).all()
    assert sorted(set(actions)) == ["case.note_added", "case.view", "image.fetch"]


def _hold_first_group(
    monkeypatch: pytest.MonkeyPatch, chain: str, queued: int, fail_on: str | None = None
) -> tuple[list[tuple[int, int]], threading.Event]:
    """Make the first group of ``chain`` wait inside its write until ``queued`` more records
    wait behind it; returns (thread id, events) of every group written, and an event set once
    the first group is inside. ``fail_on``: a group holding an event with that action fails,
    as a database error would."""
    import time

    real = audit._append_all
    groups: list[tuple[int, int]] = []
    inside = threading.Event()

    def watched(chain_: str, fields: list[dict[str, object]]) -> list[AuditEvent]:
        if not inside.is_set():
            inside.set()
            deadline = time.monotonic() + 20
            while len(audit._groups[chain].waiting) < queued and time.monotonic() < deadline:
                time.sleep(0.005)
        groups.append((threading.get_ident(), len(fields)))
        if fail_on is not None and any(f["action"] == fail_on for f in fields):
            raise ValueError("refused by the database")
        return real(chain_, fields)  # type: ignore[arg-type]

    monkeypatch.setattr(audit, "_append_all", watched)
    return groups, inside


def _first_then_rest(pool: ThreadPoolExecutor, inside: threading.Event, job, n: int) -> list:  # type: ignore[no-untyped-def]
    """``job(0)`` first, and once its group is being written, ``job(1..n-1)``; the results."""
    first = pool.submit(job, 0)
    assert inside.wait(20)
    rest = [pool.submit(job, i) for i in range(1, n)]
    return [first.result()] + [f.result() for f in rest]


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_records_that_queue_behind_a_write_are_committed_together(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: the thumbnails of a page, audited at once, cost two transactions, not
    sixteen; each caller returns its own committed event, and the next group is written by one
    of its own callers, not by the caller that wrote the first."""
    from sqlalchemy.engine import Engine

    a = make_tenant("clinic-a")
    actor = Actor(user_id=None, role=Role.CLINIC_MANAGER, tenant_id=a)
    chain = str(a)
    groups, inside = _hold_first_group(monkeypatch, chain, queued=15)
    commits: list[int] = []

    def counted(conn: object) -> None:
        commits.append(threading.get_ident())

    sa.event.listen(Engine, "commit", counted)
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            events = _first_then_rest(
                pool,
                inside,
                lambda i: audit.record(actor, "image.fetch", details={"n": i}),
                16,
            )
    finally:
        sa.event.remove(Engine, "commit", counted)
    assert [size for _, size in groups] == [1, 15]
    assert groups[0][0] != groups[1][0]
    assert len(commits) == 2
    assert sorted(e.seq for e in events) == list(range(1, 17))
    assert sorted(e.details["n"] for e in events) == list(range(16))
    assert all(e.hash and e.prev_hash for e in events)
    assert audit.chain_length(chain) == 16 and audit.verify_chain(chain) is None
    assert not audit._groups[chain].writing and not audit._groups[chain].waiting


def test_a_bad_event_in_a_group_costs_the_others_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group that fails is written again one event at a time: only the caller whose event
    cannot be written is told so, the others return their committed events."""
    a = make_tenant("clinic-a")
    actor = Actor(user_id=None, role=Role.CLINIC_MANAGER, tenant_id=a)
    chain = str(a)
    groups, inside = _hold_first_group(monkeypatch, chain, queued=7, fail_on="bad.event")

    def one(i: int) -> str:
        try:
            event = audit.record(actor, "bad.event" if i == 5 else "image.fetch")
        except ValueError:
            return "refused"
        return f"seq {event.seq}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = _first_then_rest(pool, inside, one, 8)
    assert outcomes.count("refused") == 1 and outcomes[5] == "refused"
    assert sorted(outcomes) == sorted(["refused"] + [f"seq {n}" for n in range(1, 8)])
    # The first alone, the group of seven (refused), then its seven one by one.
    assert [size for _, size in groups] == [1, 7] + [1] * 7
    assert audit.chain_length(chain) == 7 and audit.verify_chain(chain) is None
    assert not audit._groups[chain].writing


STAFF_ACTIONS = [
    "case.status_changed",
    "case.assigned",
    "case.note_added",
    "message.sent",
    "hold.place",
    "image.annotation_added",
    "image.sensitivity_changed",
]


@pytest.mark.parametrize("action", STAFF_ACTIONS)
def test_a_staff_actions_event_is_kept_with_the_action_or_neither_is(
    db: Database, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """A staff action whose event cannot be appended changes nothing (the event is appended in
    the action's own transaction); appended, both are kept."""
    from mi_portal.models import (
        Annotation,
        CaseNote,
        LegalHold,
        Message,
        Submission,
        SubmissionImage,
    )
    from mi_portal.services import cases, legal_holds, messaging, viewer
    from tests.factories import fill_tenant

    a = make_tenant("clinic-a")
    own = fill_tenant(a)
    user, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    actor = Actor(user_id=user, role=Role.CLINIC_MANAGER, tenant_id=a)
    case_id, image_id = own["submission"], own["submissionimage"]
    act, seen = {
        "case.status_changed": (
            lambda: cases.change_status(actor, case_id, cases.allowed_moves("new")[0]),
            lambda s: s.get(Submission, (a, case_id)).status,
        ),
        "case.assigned": (
            lambda: cases.assign(actor, case_id, str(user)),
            lambda s: s.get(Submission, (a, case_id)).assignee_id,
        ),
        "case.note_added": (
            lambda: cases.add_note(actor, case_id, "First look: mild"),
            lambda s: len(s.exec(select(CaseNote)).all()),
        ),
        "message.sent": (
            lambda: messaging.send_message(
                actor, case_id, channel="email", subject="Hi", body="Hello again"
            ),
            lambda s: len(s.exec(select(Message)).all()),
        ),
        "hold.place": (
            lambda: legal_holds.place_hold(actor, case_id=case_id, reason="A billing dispute"),
            lambda s: len(s.exec(select(LegalHold)).all()),
        ),
        "image.annotation_added": (
            lambda: viewer.add_annotation(actor, image_id, "arrow", 0.2, 0.2, 0.6, 0.6),
            lambda s: len(s.exec(select(Annotation)).all()),
        ),
        "image.sensitivity_changed": (
            lambda: viewer.set_sensitive(actor, image_id, True),
            lambda s: s.get(SubmissionImage, (a, image_id)).sensitive,
        ),
    }[action]

    def state() -> tuple[object, int]:
        with tenant_session(a) as session:
            return seen(session), audit.chain_length(str(a))

    before = state()
    real = audit._append_in

    def refused(*_args: object) -> None:
        raise RuntimeError("could not append to audit chain")

    monkeypatch.setattr(audit, "_append_in", refused)
    with pytest.raises(RuntimeError):
        act()
    assert state() == before  # nothing of the action was kept
    monkeypatch.setattr(audit, "_append_in", real)
    act()
    after = state()
    assert after[0] != before[0] and after[1] == before[1] + 1
    with tenant_session(a) as session:
        last = session.exec(
            select(AuditEvent.action, AuditEvent.user_id)
            .where(AuditEvent.chain == str(a))
            .order_by(col(AuditEvent.seq).desc())
            .limit(1)
        ).one()
    assert tuple(last) == (action, user)
    assert audit.verify_chain(str(a)) is None


def test_an_event_is_appended_only_in_a_session_of_its_own_clinic(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    actor = Actor(user_id=None, role=Role.CLINIC_MANAGER, tenant_id=a)
    with tenant_session(b) as session, pytest.raises(TenantScopeError):
        audit.record_in(session, "case.note_added", actor=actor)
    with audit.together() as looks:
        audit.record(actor, "case.view")
        # Looks are committed in a session of a clinic: another clinic's session commits
        # none of them (they go to their own chain, in a transaction of their own).
        with tenant_session(b) as session:
            looks.commit_in(session)
        with platform_session(platform=True) as session, pytest.raises(TenantScopeError):
            looks.commit_in(session)
    assert audit.chain_length(str(a)) == 1 and audit.chain_length(str(b)) == 0
    with tenant_session(b) as session, pytest.raises(TenantScopeError):
        audit.record_in(session, "case.note_added", tenant_id=a)


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_a_session_with_looks_commits_them_with_its_writes_or_records_them_alone(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pages' read block: a block that returns commits its writes and its looks together,
    in the order asked; a block that raises keeps none of its writes but still records the looks
    made before the error (what was read is recorded), and the error goes on; a commit the chain
    refuses keeps neither."""
    from mi_portal.models import CaseNote
    from tests.factories import make_case

    a = make_tenant("clinic-a")
    user, _ = make_user("coordinator@a.test", role="coordinator", tenants=(a,))
    actor = Actor(user_id=user, role=Role.COORDINATOR, tenant_id=a)
    case_id = make_case(a)[1]

    def page(body: str, fail: bool = False) -> str:
        with audit.together() as looks, looks.session_with_looks(a, ("case.view",)) as session:
            audit.record(actor, "cases.listed")
            audit.record(actor, "case.view", target_type="submission", target_id=case_id)
            session.add(CaseNote(submission_id=case_id, author_id=user, body=body))
            session.flush()
            if fail:
                raise LookupError("a read failed")
            return body

    def kept() -> tuple[list[str], list[str]]:
        with tenant_session(a) as session:
            notes = list(session.exec(select(CaseNote.body).order_by(col(CaseNote.created_at))))
            actions = session.exec(
                select(AuditEvent.action)
                .where(AuditEvent.chain == str(a))
                .order_by(col(AuditEvent.seq))
            ).all()
        return notes, list(actions)

    assert page("first") == "first"
    assert kept() == (["first"], ["case.view", "cases.listed"])

    with pytest.raises(LookupError):
        page("lost", fail=True)
    assert kept() == (["first"], ["case.view", "cases.listed"] * 2)

    def refused(*_args: object) -> object:
        raise RuntimeError("could not append to audit chain")

    monkeypatch.setattr(audit, "_append_in", refused)
    with pytest.raises(RuntimeError):
        page("unrecorded")
    monkeypatch.undo()
    assert kept() == (["first"], ["case.view", "cases.listed"] * 2)
    assert audit.verify_chain(str(a)) is None


@pytest.mark.parametrize(
    "column,value",
    [
        ("action", "'case.edit'"),
        ("target_id", "'case-x'"),
        ("outcome", "'denied'"),
        ("ip", "'10.0.0.9'"),
        ("user_agent", "'curl'"),
        ("reason", "'tampered'"),
        ("details", """'{"n": 1}'"""),
        ("personal_digest", "'" + "0" * 64 + "'"),
        ("personal_key", "NULL"),
    ],
)
@pytest.mark.parametrize("seq", range(1, N + 1))
def test_every_planted_edit_is_found(db: Database, seq: int, column: str, value: str) -> None:
    chain = _fill(make_tenant("clinic-a"))
    _admin(
        db,
        f"update auditevent set {column} = {value} where chain = :c and seq = :s",
        c=chain,
        s=seq,
    )
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == seq and "edited" in problem.problem


@pytest.mark.parametrize("seq", range(1, N))
def test_every_planted_deletion_is_found(db: Database, seq: int) -> None:
    chain = _fill(make_tenant("clinic-a"))
    _admin(db, "delete from auditevent where chain = :c and seq = :s", c=chain, s=seq)
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == seq + 1


def test_deletion_with_renumbering_is_found(db: Database) -> None:
    chain = _fill(make_tenant("clinic-a"))
    _admin(db, "delete from auditevent where chain = :c and seq = 3", c=chain)
    for s in range(4, N + 1):
        _admin(
            db,
            "update auditevent set seq = :n where chain = :c and seq = :s",
            c=chain,
            s=s,
            n=s - 1,
        )
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == 3


@pytest.mark.parametrize("first", range(1, N))
def test_every_planted_reordering_is_found(db: Database, first: int) -> None:
    chain = _fill(make_tenant("clinic-a"))
    # Swap two neighbours' positions (via a free number, as the pair is unique).
    _admin(db, "update auditevent set seq = -1 where chain = :c and seq = :s", c=chain, s=first)
    _admin(
        db,
        "update auditevent set seq = :s where chain = :c and seq = :t",
        c=chain,
        s=first,
        t=first + 1,
    )
    _admin(db, "update auditevent set seq = :t where chain = :c and seq = -1", c=chain, t=first + 1)
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == first


def test_cli_exits_non_zero_naming_the_broken_entry(db: Database, tmp_path: Path) -> None:
    import os

    chain = _fill(make_tenant("clinic-a"))
    script = Path(sys.executable).parent / "mi-portal"
    env = {**os.environ}
    ok = subprocess.run(
        [str(script), "audit", "verify", "--tenant", "clinic-a"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    _admin(db, "update auditevent set reason = 'tampered' where chain = :c and seq = 5", c=chain)
    broken = subprocess.run(
        [str(script), "audit", "verify"], env=env, capture_output=True, text=True
    )
    assert broken.returncode == 1
    assert "#5" in broken.stdout and "BROKEN" in broken.stdout
    missing = subprocess.run(
        [str(script), "audit", "verify", "--tenant", "nope"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2


# Erasure: the personal details of an event go, its link in the chain stays.


def _patient_events(tenant_id, targets: list[str]) -> None:  # type: ignore[no-untyped-def]
    """What a patient's visit leaves: no user, the device's IP and browser, some details."""
    for target in targets:
        audit.record(
            None,
            "intake.submit",
            tenant_id=tenant_id,
            target_type="submission",
            target_id=target,
            ip="203.0.113.7",
            user_agent="Mozilla/5.0 (iPhone)",
            reason="asked by the patient",
            details={"email": "pat@example.org"},
        )


def _events(tenant_id) -> dict[int, AuditEvent]:  # type: ignore[no-untyped-def]
    with tenant_session(tenant_id) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.chain == str(tenant_id))).all()
        return {e.seq: e for e in rows}


def _erase(tenant_id, targets, **kwargs: bool) -> int:  # type: ignore[no-untyped-def]
    with tenant_session(tenant_id) as session:
        erased = audit.erase_personal(session, targets, **kwargs)
        session.commit()
    return erased


def test_chain_verifies_after_erasing_events_that_carried_ips(db: Database) -> None:
    a = make_tenant("clinic-a")
    _patient_events(a, ["case-1", "case-2", "case-1", "case-3"])
    chain = str(a)
    assert audit.verify_chain(chain) is None
    before = _events(a)
    assert _erase(a, ["case-1", "case-3"]) == 3
    after = _events(a)
    for seq in (1, 3, 4):
        event = after[seq]
        assert (event.ip, event.user_agent, event.reason, event.details) == (None, None, None, {})
        assert event.personal_key is None and event.erased_at is not None
        # What the chain hashes is untouched.
        assert (event.hash, event.prev_hash, event.personal_digest) == (
            before[seq].hash,
            before[seq].prev_hash,
            before[seq].personal_digest,
        )
    kept = after[2]
    assert kept.ip == "203.0.113.7" and kept.details == {"email": "pat@example.org"}
    assert kept.erased_at is None and kept.personal_key is not None
    assert audit.verify_chain(chain) is None
    # The rest of an erased event is still held by the chain.
    _admin(db, "update auditevent set action = 'case.view' where chain = :c and seq = 3", c=chain)
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == 3 and "edited" in problem.problem


@pytest.mark.parametrize(
    "column,value", [("ip", "'10.0.0.9'"), ("details", """'{"email": "x@example.org"}'""")]
)
def test_tampering_with_an_event_not_erased_is_still_found(
    db: Database, column: str, value: str
) -> None:
    a = make_tenant("clinic-a")
    _patient_events(a, ["case-1", "case-2", "case-3"])
    _erase(a, ["case-1", "case-3"])
    chain = str(a)
    _admin(db, f"update auditevent set {column} = {value} where chain = :c and seq = 2", c=chain)
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == 2
    assert "personal details changed" in problem.problem


def test_a_key_removed_without_an_erasure_is_found(db: Database) -> None:
    a = make_tenant("clinic-a")
    _patient_events(a, ["case-1", "case-2"])
    chain = str(a)
    _admin(
        db,
        "update auditevent set personal_key = NULL, ip = '10.0.0.9' where chain = :c and seq = 2",
        c=chain,
    )
    problem = audit.verify_chain(chain)
    assert problem is not None and problem.seq == 2 and "edited" in problem.problem


def test_erasure_is_idempotent(db: Database) -> None:
    from datetime import UTC, datetime, timedelta

    from mi_portal.services import clock

    a = make_tenant("clinic-a")
    _patient_events(a, ["case-1", "case-2"])
    first = datetime(2027, 1, 1, tzinfo=UTC)
    clock.set_clock(lambda: first)
    try:
        assert _erase(a, ["case-1"]) == 1
        clock.set_clock(lambda: first + timedelta(days=1))
        assert _erase(a, ["case-1"]) == 0
        assert _erase(a, ["case-1", "case-2"]) == 1
    finally:
        clock.set_clock(None)
    events = _events(a)
    assert events[1].erased_at == first
    assert events[2].erased_at == first + timedelta(days=1)
    assert audit.verify_chain(str(a)) is None


@pytest.mark.parametrize("keep_staff_network", [True, False])
def test_staff_keep_their_identity_and_network_unless_told(
    db: Database, keep_staff_network: bool
) -> None:
    a = make_tenant("clinic-a")
    staff_id, _ = make_user("coordinator@a.test", role="coordinator", tenants=(a,))
    staff = Actor(
        user_id=staff_id,
        role=Role.COORDINATOR,
        tenant_id=a,
        ip="198.51.100.4",
        user_agent="Firefox",
    )
    audit.record(staff, "case.view", target_type="submission", target_id="case-1",
                 details={"query": "pat"})  # fmt: skip
    _patient_events(a, ["case-1"])
    assert _erase(a, ["case-1"], keep_staff_network=keep_staff_network) == 2
    by_staff, by_patient = _events(a)[1], _events(a)[2]
    assert (by_staff.user_id, by_staff.role) == (staff_id, Role.COORDINATOR.value)
    assert by_staff.details == {} and by_staff.personal_key is None
    if keep_staff_network:
        assert (by_staff.ip, by_staff.user_agent) == ("198.51.100.4", "Firefox")
    else:
        assert (by_staff.ip, by_staff.user_agent) == (None, None)
    assert (by_patient.ip, by_patient.user_agent) == (None, None)
    assert audit.verify_chain(str(a)) is None


def test_patients_only_leaves_staff_events_as_they_are(db: Database) -> None:
    a = make_tenant("clinic-a")
    staff_id, _ = make_user("coordinator@a.test", role="coordinator", tenants=(a,))
    staff = Actor(user_id=staff_id, role=Role.COORDINATOR, tenant_id=a, ip="198.51.100.4")
    audit.record(staff, "case.view", target_type="submission", target_id="case-1",
                 details={"query": "pat"})  # fmt: skip
    _patient_events(a, ["case-1"])
    assert _erase(a, ["case-1"], patients_only=True) == 1
    by_staff, by_patient = _events(a)[1], _events(a)[2]
    assert by_staff.erased_at is None and by_staff.details == {"query": "pat"}
    assert by_patient.erased_at is not None and by_patient.ip is None
    assert audit.verify_chain(str(a)) is None
    # A later full erasure still reaches the staff event.
    assert _erase(a, ["case-1"]) == 1
    assert _events(a)[1].ip == "198.51.100.4" and _events(a)[1].details == {}


def test_erasure_touches_only_the_clinic_in_scope_and_the_ids_asked(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    targets = [f"case-{i}" for i in range(3)]
    _patient_events(a, targets)
    _patient_events(b, targets)
    # More ids than one batch holds, the ones present spread over several batches.
    asked = [f"absent-{i}" for i in range(1200)]
    asked[0], asked[700] = "case-0", "case-2"
    assert _erase(a, asked) == 2
    assert {s for s, e in _events(a).items() if e.erased_at} == {1, 3}
    assert all(e.erased_at is None and e.ip for e in _events(b).values())
    assert audit.verify_chain(str(a)) is None and audit.verify_chain(str(b)) is None


def test_erasure_needs_a_clinic_session(db: Database) -> None:
    audit.record(None, "auth.sign_in", target_id="case-1", ip="203.0.113.7", platform=True)
    with platform_session(platform=True) as session, pytest.raises(TenantScopeError):
        audit.erase_personal(session, ["case-1"])
    with platform_session(platform=True) as session:
        event = session.exec(select(AuditEvent).where(col(AuditEvent.chain) == "platform")).one()
    assert event.ip == "203.0.113.7" and event.erased_at is None


def test_an_erased_entry_that_holds_details_again_is_caught(db: Database) -> None:
    tenant_id = make_tenant("clinic-erase")
    event = audit.record(None, "intake.submitted", tenant_id=tenant_id, target_id="x",
                         ip="203.0.113.1", details={"k": "v"})  # fmt: skip
    with tenant_session(tenant_id) as session:
        assert audit.erase_personal(session, ["x"]) == 1
        session.commit()
    assert audit.verify_chain(str(tenant_id)) is None
    for column, value in (("details", """'{"k": "forged"}'"""), ("reason", "'forged'"),
                          ("ip", "'198.51.100.1'")):  # fmt: skip
        where = "where chain = :c and seq = :s"
        _admin(db, f"update auditevent set {column} = {value} {where}", c=event.chain, s=event.seq)
        problem = audit.verify_chain(str(tenant_id))
        assert problem is not None and "erased entry holds" in problem.problem
        _admin(db, f"update auditevent set details = '{{}}', reason = NULL, ip = NULL {where}",
               c=event.chain, s=event.seq)  # fmt: skip
    assert audit.verify_chain(str(tenant_id)) is None
