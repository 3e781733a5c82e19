"""The retention sweep on both databases: what is due goes, completely; nothing else does."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlmodel import col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    CaseNote,
    ConsentRecord,
    ImageRendition,
    LegalHold,
    Message,
    MessageThread,
    Patient,
    Quote,
    RetentionItem,
    Role,
    Submission,
    SubmissionImage,
    Tenant,
    utcnow,
)
from mi_portal.services import clock, intake, retention, retention_rules, storage_check
from mi_portal.services.actor import Actor
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_case, make_tenant
from tests.intake_helpers import form, photos

DAY = timedelta(days=1)


def _case(
    slug: str, n_photos: int = 2, email: str = "robin@example.org"
) -> tuple[uuid.UUID, uuid.UUID]:
    intake.submit(
        clinic_slugs=[slug],
        form=form(email=email),
        photos=photos(n_photos),
        ip="203.0.113.9",
        user_agent="Patient browser",
        source="clinic_page",
    )
    with platform_session() as session:
        tenant_id = session.exec(select(Tenant.id).where(Tenant.slug == slug)).one()
    with tenant_session(tenant_id) as session:
        case = session.exec(select(Submission).order_by(col(Submission.id).desc()).limit(1)).one()
        return tenant_id, case.id


def _owner(tenant_id: uuid.UUID) -> Actor:
    return Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=tenant_id)


def _snapshot(tenant_id: uuid.UUID) -> dict[str, object]:
    with tenant_session(tenant_id) as session:
        return {
            "cases": sorted(str(c.id) for c in session.exec(select(Submission))),
            "photos": len(list(session.exec(select(SubmissionImage.id)))),
            "renditions": sorted(session.exec(select(ImageRendition.storage_key))),
            "patients": [(p.full_name, p.email) for p in session.exec(select(Patient))],
        }


def test_photos_and_device_data_go_first_the_case_stays(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, case_id = _case("clinic-a")
    keys = _snapshot(tenant_id)["renditions"]
    assert keys
    later(89)
    assert retention.sweep(tenant_id).planned == 0
    later(91)  # device and network data (90 days) only
    result = retention.sweep(tenant_id)
    assert result.line() == "planned=1 purged=1 deidentified=0 held=0 failed=0"
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None and case.source_ip is None and case.user_agent is None
        assert case.retention_cleared == ["device_network"]
        consents = list(session.exec(select(ConsentRecord)))
        # The patient's only case is due for device data: their consents' IPs go too.
        assert consents and all(c.ip is None and c.user_agent is None for c in consents)
    assert all(get_store().exists(k) for k in keys)  # type: ignore[union-attr]
    later(731)  # photos (730 days)
    result = retention.sweep(tenant_id)
    assert result.planned == 1 and result.failed == 0
    assert _snapshot(tenant_id)["photos"] == 0
    assert all(get_store().gone(k) for k in keys)  # type: ignore[union-attr]
    report = storage_check.check()
    assert report.orphan_objects == [] and report.missing_objects == []
    # Nothing more is due until the next category: a rerun plans nothing.
    assert retention.sweep(tenant_id).planned == 0


def test_everything_due_makes_a_deidentified_record(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, case_id = _case("clinic-a")
    with tenant_session(tenant_id) as session:
        session.add(CaseNote(submission_id=case_id, body="Patient mentions eczema"))
        row = session.get(Submission, (tenant_id, case_id))
        assert row is not None
        row.status, row.reviewed_at = "closed", row.received_at + timedelta(hours=30)
        session.add(row)
        session.commit()
    later(4000)
    assert retention.sweep(tenant_id).line() == (
        "planned=1 purged=0 deidentified=1 held=0 failed=0"
    )
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        assert case.deidentified_at is not None
        assert case.concern_area == "acne"  # kept for aggregate figures
        assert case.answers == {}
        assert case.received_at.day == 1 and case.received_at.hour == 0
        # The first review keeps its month only, like the arrival.
        assert case.reviewed_at is not None and case.reviewed_at == case.reviewed_at.replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        patient = session.get(Patient, (tenant_id, case.patient_id))
        assert patient is not None and patient.anonymized_at is not None
        assert (patient.full_name, patient.email, patient.phone) == ("Anonymous patient", "", None)
        assert list(session.exec(select(CaseNote))) == []
        assert list(session.exec(select(ConsentRecord))) == []
    assert list(get_store().keys()) == []


def test_all_delete_removes_case_and_patient(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, _case_id = _case("clinic-a")
    changes = {c.category: (30, "delete") for c in retention_rules.CATEGORIES}
    retention_rules.save_policies(_owner(tenant_id), changes)
    later(31)
    assert retention.sweep(tenant_id).line() == "planned=1 purged=1 deidentified=0 held=0 failed=0"
    assert _snapshot(tenant_id) == {"cases": [], "photos": 0, "renditions": [], "patients": []}
    assert list(get_store().keys()) == []


def test_a_held_case_is_never_touched_and_is_reported(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, case_id = _case("clinic-a")
    with tenant_session(tenant_id) as session:
        session.add(LegalHold(submission_id=case_id, reason="dispute"))
        session.commit()
    before = _snapshot(tenant_id)
    later(4000)
    assert retention.sweep(tenant_id).line() == "planned=0 purged=0 deidentified=0 held=1 failed=0"
    assert _snapshot(tenant_id) == before


def test_activity_moves_the_clock(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, case_id = _case("clinic-a")
    moment = later(700)
    with tenant_session(tenant_id) as session:
        session.add(CaseNote(submission_id=case_id, body="follow-up", created_at=moment))
        session.commit()
        assert retention_rules.activity_clock(session, [case_id])[case_id] == moment
    later(800)  # 800 days after arrival, 100 after the note: photos not due yet
    assert retention.sweep(tenant_id).planned == 1  # device data only
    assert _snapshot(tenant_id)["photos"] == 2


@pytest.mark.parametrize(
    "kind",
    ["arrival", "status", "message", "note", "quote.created_at", "quote.updated_at",
     "quote.sent_at", "quote.viewed_at", "quote.closed_at"],
)  # fmt: skip
def test_every_kind_of_activity_moves_the_clock_of_its_own_case_only(
    db: Database, kind: str
) -> None:
    """One statement reads every kind (a ``UNION ALL``): each kind alone, for two cases at once,
    and another clinic's case asked for by id is not seen."""
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    (_, moved), (_, still) = make_case(a), make_case(a)
    _, foreign = make_case(b)
    start = utcnow() - timedelta(days=400)
    moment = start + timedelta(days=100)
    with tenant_session(a) as session:
        for case in session.exec(select(Submission)):
            case.received_at = case.last_activity_at = start
            session.add(case)
        session.commit()
        row = session.get(Submission, (a, moved))
        assert row is not None
        if kind == "arrival":
            row.received_at = moment
        elif kind == "status":
            row.last_activity_at = moment
        elif kind == "message":
            thread = MessageThread(submission_id=moved)
            session.add(thread)
            session.flush()
            session.add(
                Message(thread_id=thread.id, direction="inbound", body="hi", created_at=moment)
            )
        elif kind == "note":
            session.add(CaseNote(submission_id=moved, body="n", created_at=moment))
        else:
            quote = Quote(submission_id=moved, total=Decimal("1"), status="draft")
            quote.created_at = quote.updated_at = start
            setattr(quote, kind.split(".")[1], moment)
            session.add(quote)
        session.add(row)
        session.commit()
        clocks = retention_rules.activity_clock(session, [moved, still, foreign])
    assert clocks == {moved: moment, still: start}


def test_clearing_notes_does_not_make_the_rest_look_older(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, case_id = _case("clinic-a")
    moment = later(2000)
    with tenant_session(tenant_id) as session:
        # A note written by a path that did not touch the case: the clock still counts it.
        session.add(CaseNote(submission_id=case_id, body="follow-up", created_at=moment))
        session.commit()
    later(4000)  # everything but quotes (2,555 days after the note) is due
    assert retention.sweep(tenant_id).planned == 1
    with tenant_session(tenant_id) as session:
        assert list(session.exec(select(CaseNote))) == []
        assert retention_rules.activity_clock(session, [case_id])[case_id] == moment
    # The note is gone, but the quotes still age from it: nothing more is due yet.
    assert retention.sweep(tenant_id).planned == 0
    later(2000 + 2556)
    assert retention.sweep(tenant_id).line() == (
        "planned=1 purged=0 deidentified=1 held=0 failed=0"
    )


@pytest.mark.parametrize(
    "step", ["_delete_objects", "_verify_objects", "_change_rows", "_record_proof"]
)
def test_a_sweep_stopped_after_any_step_finishes_on_the_next_run(
    db: Database, later, step: str
) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, _ = _case("clinic-a")
    _case("clinic-a", email="sam@example.org")
    later(4000)
    with pytest.raises(retention.SweepInterrupted):
        retention.sweep(tenant_id, stop_after=step)
    result = retention.sweep(tenant_id)
    assert result.failed == 0
    with tenant_session(tenant_id) as session:
        items = list(session.exec(select(RetentionItem)))
        assert len(items) == 2 and {i.state for i in items} == {"proved"}
        assert all(c.deidentified_at for c in session.exec(select(Submission)))
    report = storage_check.check()
    assert report.orphan_objects == [] and report.missing_objects == []
    assert list(get_store().keys()) == []
    assert retention.sweep(tenant_id).planned == 0


def test_a_hold_placed_after_planning_stops_the_rows_and_the_patient(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, first = _case("clinic-a")
    with tenant_session(tenant_id) as session:
        patient_id = session.get(Submission, (tenant_id, first)).patient_id  # type: ignore[union-attr]
        # A second case of the same patient, with nothing stored.
        second = Submission(
            patient_id=patient_id, concern_area="acne", answers={"goal": "clear skin"},
            source_ip="203.0.113.9",
        )  # fmt: skip
        session.add(second)
        session.commit()
        second_id = second.id
    later(4000)
    with pytest.raises(retention.SweepInterrupted):
        retention.sweep(tenant_id, stop_after="_verify_objects")  # both cases' objects gone
    # The run dies here; before the next one, the second case is put on hold.
    with tenant_session(tenant_id) as session:
        session.add(LegalHold(submission_id=second_id, reason="dispute"))
        session.commit()
    assert retention.sweep(tenant_id).line() == (
        "planned=0 purged=0 deidentified=1 held=1 failed=0"
    )
    with tenant_session(tenant_id) as session:
        held = session.get(Submission, (tenant_id, second_id))
        assert held is not None and held.deidentified_at is None
        assert (held.answers, held.source_ip) == ({"goal": "clear skin"}, "203.0.113.9")
        # Only its photos (purged before the hold) are recorded as gone.
        assert held.retention_cleared == ["health_image"]
        # The patient's name and contact belong to the held case too: they stay.
        patient = session.get(Patient, (tenant_id, patient_id))
        assert patient is not None and patient.full_name == "Robin Patient"
        assert patient.anonymized_at is None
        done = session.get(Submission, (tenant_id, first))
        assert done is not None and done.deidentified_at is not None


def test_one_clinics_sweep_leaves_another_untouched(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    make_tenant("clinic-b")
    a, _ = _case("clinic-a")
    b, _ = _case("clinic-b")
    before = _snapshot(b)
    objects_b = {k: get_store().get(k) for k in before["renditions"]}  # type: ignore[union-attr]
    later(4000)
    assert retention.sweep(a).planned == 1
    assert _snapshot(b) == before
    assert {k: get_store().get(k) for k in objects_b} == objects_b


def test_preview_counts_what_the_sweep_does(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, _ = _case("clinic-a", n_photos=3)
    _case("clinic-a", n_photos=1, email="sam@example.org")
    later(100)
    owner = _owner(tenant_id)
    assert retention.preview(owner, {}).photos == 0
    counts = retention.preview(owner, {"health_image": (60, "delete")})
    assert (counts.cases, counts.photos) == (2, 4)
    assert retention.sweep(tenant_id, dry_run=True).planned == 2
    assert _snapshot(tenant_id)["photos"] == 4  # a dry run changes nothing


def test_policy_rules(db: Database) -> None:
    tenant_id = make_tenant("clinic-a")
    owner = _owner(tenant_id)
    with pytest.raises(retention_rules.RetentionProblem, match="whole number"):
        retention_rules.save_policies(owner, {"identity": ("0", "delete")})
    with pytest.raises(retention_rules.RetentionProblem, match="choose delete"):
        retention_rules.save_policies(owner, {"health_image": (30, "deidentify")})
    with pytest.raises(retention_rules.RetentionProblem, match="longer than the health"):
        retention_rules.save_policies(owner, {"health_image": (5000, "delete")})
    saved = retention_rules.save_policies(owner, {"identity": ("400", "delete")})
    assert saved["identity"].days == 400 and not saved["identity"].is_default
    assert retention_rules.get_policies(owner)["contact"].is_default
    _ = col  # keep the import used by type checkers


def test_the_command_line_sets_a_period_and_sweeps_with_a_summary_line(db: Database) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "mi-portal"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "200"}
        return subprocess.run([str(script), *args], env=env, capture_output=True, text=True)

    make_tenant("clinic-a")
    tenant_id, _ = _case("clinic-a")
    refused = run("retention", "set", "--tenant", "clinic-a", "--category", "health_image",
                  "--days", "0", "--action", "delete")  # fmt: skip
    assert refused.returncode == 2 and "whole number of days" in refused.stdout
    assert run("retention", "sweep", "--tenant", "nope").returncode == 2
    done = run("retention", "set", "--tenant", "clinic-a", "--category", "identity",
               "--days", "1", "--action", "delete")  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert retention_rules.get_policies(_owner(tenant_id))["identity"].days == 1
    others = {c.category: (1, "delete") for c in retention_rules.CATEGORIES}
    retention_rules.save_policies(_owner(tenant_id), others)
    # The case arrived just now: nothing is due for a day.
    dry = run("retention", "sweep", "--dry-run")
    assert dry.stdout.strip().splitlines()[-1] == (
        "dry run: planned=0 purged=0 deidentified=0 held=0 failed=0"
    )
    with tenant_session(tenant_id) as session:
        for case in session.exec(select(Submission)):
            case.received_at = case.last_activity_at = utcnow() - 2 * DAY
            session.add(case)
        session.commit()
    swept = run("retention", "sweep", "--tenant", "clinic-a", "--max", "5")
    assert swept.returncode == 0, swept.stdout + swept.stderr
    assert swept.stdout.strip().splitlines()[-1] == (
        "planned=1 purged=1 deidentified=0 held=0 failed=0"
    )
    assert _snapshot(tenant_id)["cases"] == []
    assert "Anonymous" not in swept.stdout and "robin" not in swept.stdout


@pytest.mark.parametrize("days", [91, 4000])
def test_the_audit_chain_verifies_after_the_patients_ip_is_erased(
    db: Database, later, days: int
) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.models import AuditEvent
    from mi_portal.services import audit

    make_tenant("clinic-a")
    tenant_id, case_id = _case("clinic-a")
    _case("clinic-a", email="sam@example.org")  # another patient, not due (moved below)

    def intake_events() -> list[AuditEvent]:
        with tenant_session(tenant_id) as session:
            return list(
                session.exec(select(AuditEvent).where(AuditEvent.action == "intake.submitted"))
            )

    assert all(e.ip == "203.0.113.9" for e in intake_events())
    later(days)
    with tenant_session(tenant_id) as session:  # the other case had activity just now
        other = session.exec(select(Submission).where(Submission.id != case_id)).one()
        other.last_activity_at = clock.now()
        other_id = other.id
        session.add(other)
        session.commit()
    assert retention.sweep(tenant_id).planned == 1
    events = {e.target_id: e for e in intake_events()}
    erased, kept = events[str(case_id)], events[str(other_id)]
    assert erased.ip is None and erased.user_agent is None and erased.erased_at is not None
    assert kept.ip == "203.0.113.9" and kept.erased_at is None
    assert audit.verify_chain(str(tenant_id)) is None


class _Crash(BaseException):
    """Stands for the process dying mid-step (nothing after it runs, nothing is committed)."""


class _CrashingStore:
    """The real local store, which dies after ``purges`` objects were purged."""

    def __init__(self, purges: int) -> None:
        self.inner, self.left = get_store(), purges

    def purge(self, key: str) -> None:
        if self.left == 0:
            raise _Crash
        self.left -= 1
        self.inner.purge(key)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


def test_a_crash_mid_purge_then_activity_leaves_no_row_pointing_at_nothing(
    db: Database, later
) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, case_id = _case("clinic-a")
    later(800)  # photos due
    with pytest.raises(_Crash):
        retention.sweep(tenant_id, store=_CrashingStore(purges=3))  # type: ignore[arg-type]
    assert storage_check.check().missing_objects  # three of eight objects gone, rows still there
    moment = later(801)
    with tenant_session(tenant_id) as session:  # the case comes back to life
        session.add(CaseNote(submission_id=case_id, body="back again", created_at=moment))
        session.commit()
    result = retention.sweep(tenant_id)
    # The item had started deleting: it finishes its photos (rows and objects), nothing else.
    report = storage_check.check()
    assert report.missing_objects == [] and report.orphan_objects == []
    assert _snapshot(tenant_id)["photos"] == 0 and len(_snapshot(tenant_id)["cases"]) == 1
    assert result.failed == 1  # reported: the rest of the case changed since it was planned
    with tenant_session(tenant_id) as session:
        assert len(list(session.exec(select(CaseNote)))) == 1


def test_a_photo_that_arrives_after_photos_were_cleared_is_purged_in_its_own_time(
    db: Database, later
) -> None:  # type: ignore[no-untyped-def]
    make_tenant("clinic-a")
    tenant_id, case_id = _case("clinic-a", n_photos=1)
    later(731)
    assert retention.sweep(tenant_id).failed == 0
    assert _snapshot(tenant_id)["photos"] == 0
    moment = later(800)  # the patient sends a new photo (with a message: activity)
    store = get_store()
    key = f"{tenant_id}/late-photo"
    store.put(key, b"late bytes", content_type="image/jpeg")
    with tenant_session(tenant_id) as session:
        image = SubmissionImage(submission_id=case_id, display_name="late.jpg",
                                content_type="image/jpeg", width=1, height=1, byte_size=10,
                                sha256="1" * 64, created_at=moment)  # fmt: skip
        session.add(image)
        session.flush()
        session.add(ImageRendition(image_id=image.id, kind="original", storage_key=key,
                                   content_type="image/jpeg", width=1, height=1, byte_size=10,
                                   sha256="1" * 64))  # fmt: skip
        session.add(CaseNote(submission_id=case_id, body="new photo in", created_at=moment))
        session.commit()
    later(1500)  # 700 days after the new photo: not due yet
    retention.sweep(tenant_id)
    assert store.exists(key) and _snapshot(tenant_id)["photos"] == 1
    later(1532)  # 732 days after it: due, and purged like the first ones
    assert retention.sweep(tenant_id).failed == 0
    assert store.gone(key) and _snapshot(tenant_id)["photos"] == 0  # type: ignore[attr-defined]
    report = storage_check.check()
    assert report.missing_objects == [] and report.orphan_objects == []


def test_one_sweep_of_a_clinic_at_a_time(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    a = make_tenant("clinic-a")
    b = make_tenant("clinic-b")
    later(4000)
    with retention.sweep_lock(a):
        with pytest.raises(retention.SweepBusy):
            retention.sweep(a)
        assert retention.sweep(b).failed == 0  # another clinic is not held up
        assert retention.sweep(a, dry_run=True).planned == 0  # counting needs no lock
    assert retention.sweep(a).failed == 0


def test_finished_deliveries_tied_to_no_case_go_after_the_contact_period(
    db: Database, later
) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.models import OutboxMessage

    tenant_id = make_tenant("clinic-a")
    moment = utcnow()
    with tenant_session(tenant_id) as session:
        for status in ("sent", "delivered", "failed", "pending"):
            session.add(OutboxMessage(kind="auto_reply", channel="sms", recipient="+12025550111",
                                      body="You will get no more texts.", status=status,
                                      created_at=moment))  # fmt: skip
        session.commit()
    later(1094)
    retention.sweep(tenant_id)
    with tenant_session(tenant_id) as session:
        assert len(list(session.exec(select(OutboxMessage)))) == 4
    later(1096)  # the contact period (1,095 days by default) has passed
    retention.sweep(tenant_id)
    with tenant_session(tenant_id) as session:
        left = list(session.exec(select(OutboxMessage)))
    assert [row.status for row in left] == ["pending"]  # one still to send is never dropped


def test_a_run_that_died_is_marked_interrupted_by_the_next(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.models import RetentionRun

    make_tenant("clinic-a")
    tenant_id, _ = _case("clinic-a")
    later(4000)
    with pytest.raises(retention.SweepInterrupted):
        retention.sweep(tenant_id, stop_after="_verify_objects")
    retention.sweep(tenant_id)
    with tenant_session(tenant_id) as session:
        statuses = [
            r.status
            for r in session.exec(select(RetentionRun).order_by(col(RetentionRun.started_at)))
        ]
    assert statuses == ["interrupted", "finished"]


def test_a_blurred_copy_made_while_the_sweep_runs_goes_with_its_photo(
    db: Database, later, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.services import photos as photo_links

    make_tenant("clinic-a")
    tenant_id, _ = _case("clinic-a", n_photos=1)
    store = get_store()
    with tenant_session(tenant_id) as session:
        rows = list(session.exec(select(ImageRendition)))
        for row in rows:  # a photo stored before blurred renditions existed
            if row.kind == photo_links.BLURRED:
                store.purge(row.storage_key)  # type: ignore[attr-defined]
                session.delete(row)
        session.commit()
        thumb = next(r for r in rows if r.kind == "thumbnail")
    later(800)
    real = retention._gate

    def staff_open_the_case_then(*args, **kwargs):  # type: ignore[no-untyped-def]
        # Someone opens the case after it was planned: its blurred copy is made now (once the
        # thumbnail is purged no copy can be made any more).
        viewer = Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=tenant_id)
        assert photo_links.blurred_key(viewer, store, thumb.image_id, thumb.storage_key)
        return real(*args, **kwargs)

    monkeypatch.setattr(retention, "_gate", staff_open_the_case_then)
    assert retention.sweep(tenant_id).failed == 0
    report = storage_check.check()
    assert report.missing_objects == [] and report.orphan_objects == []
    assert _snapshot(tenant_id)["photos"] == 0 and list(store.keys()) == []


def test_settings_saved_while_a_run_goes_are_seen_before_more_is_deleted(
    db: Database, later, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    tenant_id = make_tenant("clinic-a")
    _case("clinic-a", email="a@example.org")
    _case("clinic-a", email="b@example.org")
    later(800)  # photos (730 days) due on both
    monkeypatch.setattr(retention, "BATCH", 1)

    def progress(done: int, total: int) -> None:
        if done == 1:  # after the first case, the owner decides to keep photos far longer
            retention_rules.save_policies(
                _owner(tenant_id),
                {"special_category": (36500, "deidentify"), "health_image": (36500, "delete")},
            )

    result = retention.sweep(tenant_id, progress=progress)
    assert result.failed == 1  # the second case's item: dropped before its photos went
    assert _snapshot(tenant_id)["photos"] == 2  # one photo each: the first case's are gone
