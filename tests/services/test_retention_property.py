"""A property of the sweep, for random cases, activity dates, policies, holds and moments.

Nothing younger than its policy and nothing held is ever touched, and everything due is cleared.
What is due is worked out here from the generated dates alone (not with the service's clock);
the cases are cheap rows made directly, with real objects in the local store.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from mi_portal.db import tenant_session
from mi_portal.models import (
    CaseNote,
    ImageRendition,
    LegalHold,
    Patient,
    RetentionPolicy,
    Submission,
    SubmissionImage,
)
from mi_portal.services import clock, retention, retention_rules
from mi_portal.services.retention_erase import TOMBSTONE_NAME
from mi_portal.storage import LocalStore
from tests.conftest import Database
from tests.factories import make_tenant

EPOCH = datetime(2020, 1, 1, 9, 30, tzinfo=UTC)
CATEGORIES = [c.category for c in retention_rules.CATEGORIES]


@dataclass
class CaseSpec:
    patient: int
    received: int  # days after EPOCH
    status_change: int  # days after arrival of the last status change
    note: int | None  # days after arrival of a note, if any
    photos: int


@dataclass
class HoldSpec:
    on_patient: bool
    target: int  # index of the case (or of that case's patient)
    state: str  # active, released, ended (end date past), ending (end date today or later)
    days: int  # how far the end date is from the sweep's day


@dataclass
class Scenario:
    cases: list[CaseSpec]
    policies: dict[str, tuple[int, str]]
    holds: list[HoldSpec]
    now: int  # days after EPOCH
    at: timedelta  # time of day (some equal to an activity's, to meet a due moment exactly)
    later: int | None  # days after the first sweep of a second one, if any
    ids: list[uuid.UUID] = field(default_factory=list)


DAYS = st.sampled_from([1, 30, 90, 365, 730, 1095, 2000]) | st.integers(1, 3000)


@st.composite
def policies(draw: st.DrawFn) -> dict[str, tuple[int, str]]:
    # A third of the clinics delete everything (cases and patients then go entirely).
    delete_all = draw(st.integers(0, 2)) == 0
    chosen = {
        c.category: (
            draw(DAYS),
            "delete" if delete_all else draw(st.sampled_from(c.actions)),
        )
        for c in retention_rules.CATEGORIES
    }
    # Photos cannot outlive the health details they belong to (the settings refuse it).
    photo_days, photo_action = chosen["health_image"]
    chosen["health_image"] = (min(photo_days, chosen["special_category"][0]), photo_action)
    return chosen


cases = st.builds(
    CaseSpec,
    patient=st.integers(0, 3),
    received=st.integers(0, 2500),
    status_change=st.integers(0, 400),
    note=st.none() | st.integers(0, 1500),
    photos=st.integers(0, 2),
)
holds = st.builds(
    HoldSpec,
    on_patient=st.booleans(),
    target=st.integers(0, 5),
    state=st.sampled_from(["active", "released", "ended", "ending"]),
    days=st.integers(0, 40),
)
scenarios = st.builds(
    Scenario,
    cases=st.lists(cases, min_size=1, max_size=8),
    policies=policies(),
    holds=st.lists(holds, max_size=4),
    now=st.integers(1000, 6000),
    at=st.sampled_from([timedelta(0), timedelta(minutes=7), timedelta(hours=3)]),
    later=st.none() | st.integers(1, 3000),
)


def _received(spec: CaseSpec) -> datetime:
    return EPOCH + timedelta(days=spec.received)


def _last_activity(spec: CaseSpec) -> datetime:
    moments = [_received(spec) + timedelta(days=spec.status_change, minutes=7)]
    if spec.note is not None:
        moments.append(_received(spec) + timedelta(days=spec.note, hours=3))
    return max(moments)


def _build(tenant_id: uuid.UUID, scenario: Scenario, store: LocalStore) -> dict[str, Any]:
    """Write the scenario's rows and objects; returns ids by case."""
    now = EPOCH + timedelta(days=scenario.now) + scenario.at
    with tenant_session(tenant_id) as session:
        patients: dict[int, uuid.UUID] = {}
        for spec in scenario.cases:
            if spec.patient not in patients:
                patient = Patient(
                    full_name=f"Patient {spec.patient}",
                    email=f"p{spec.patient}@example.org",
                    phone="+12025550100",
                    date_of_birth=date(1990, 1, 1),
                    created_at=EPOCH,
                )
                session.add(patient)
                session.flush()
                patients[spec.patient] = patient.id
        for n, spec in enumerate(scenario.cases):
            case = Submission(
                patient_id=patients[spec.patient],
                concern_area="acne",
                answers={"how_long": f"{n} months"},
                received_at=_received(spec),
                last_activity_at=_received(spec) + timedelta(days=spec.status_change, minutes=7),
                source_ip="203.0.113.9",
                user_agent="Patient browser",
            )
            session.add(case)
            session.flush()
            scenario.ids.append(case.id)
            if spec.note is not None:
                moment = _received(spec) + timedelta(days=spec.note, hours=3)
                session.add(CaseNote(submission_id=case.id, body="Follow-up", created_at=moment))
            for position in range(spec.photos):
                image = SubmissionImage(
                    submission_id=case.id,
                    position=position,
                    display_name=f"photo-{position}.jpg",
                    content_type="image/jpeg",
                    width=4,
                    height=4,
                    byte_size=8,
                    sha256="0" * 64,
                )
                session.add(image)
                session.flush()
                for kind in ("original", "thumbnail"):
                    key = f"{tenant_id}/{uuid.uuid4().hex}/{kind}.jpg"
                    store.put(key, f"{case.id}:{kind}".encode(), content_type="image/jpeg")
                    session.add(
                        ImageRendition(
                            image_id=image.id,
                            kind=kind,
                            storage_key=key,
                            content_type="image/jpeg",
                            width=4,
                            height=4,
                            byte_size=8,
                            sha256="0" * 64,
                        )
                    )
        for hold in scenario.holds:
            if hold.target >= len(scenario.cases):
                continue
            spec = scenario.cases[hold.target]
            row = LegalHold(reason="claim", created_at=EPOCH)
            if hold.on_patient:
                row.patient_id = patients[spec.patient]
            else:
                row.submission_id = scenario.ids[hold.target]
            if hold.state == "released":
                row.released_at = now - timedelta(days=hold.days)
            elif hold.state == "ended":
                row.ends_on = now.date() - timedelta(days=hold.days + 1)
            elif hold.state == "ending":
                row.ends_on = now.date() + timedelta(days=hold.days)
            session.add(row)
        session.commit()
        return {"patients": patients, "now": now}


def _is_held(scenario: Scenario, n: int, first: datetime, moment: datetime) -> bool:
    """Whether case ``n`` is held at ``moment`` (the holds were made for the ``first`` sweep).

    A hold is active until released or until its end date has passed."""
    spec = scenario.cases[n]
    for hold in scenario.holds:
        if hold.target >= len(scenario.cases) or hold.state in ("released", "ended"):
            continue
        if hold.state == "ending" and first.date() + timedelta(days=hold.days) < moment.date():
            continue
        if hold.on_patient and scenario.cases[hold.target].patient == spec.patient:
            return True
        if not hold.on_patient and hold.target == n:
            return True
    return False


def _due(scenario: Scenario, n: int, now: datetime) -> set[str]:
    last = _last_activity(scenario.cases[n])
    return {
        c for c, (days, _action) in scenario.policies.items() if last + timedelta(days=days) <= now
    }


def _state(tenant_id: uuid.UUID, store: LocalStore) -> dict[str, Any]:
    """Every row the scenario made, by id, and every object's bytes."""
    with tenant_session(tenant_id) as session:
        return {
            "cases": {c.id: c.model_dump() for c in session.exec(select(Submission))},
            "patients": {p.id: p.model_dump() for p in session.exec(select(Patient))},
            "images": {i.id: i.model_dump() for i in session.exec(select(SubmissionImage))},
            "renditions": {r.id: r.model_dump() for r in session.exec(select(ImageRendition))},
            "notes": {n.id: n.model_dump() for n in session.exec(select(CaseNote))},
            "objects": {key: store.get(key) for key, _modified in store.listing()},
        }


def _of_case(state: dict[str, Any], case_id: uuid.UUID) -> dict[str, Any]:
    """A case's own rows and objects in ``state``."""
    images = {k: v for k, v in state["images"].items() if v["submission_id"] == case_id}
    renditions = {k: v for k, v in state["renditions"].items() if v["image_id"] in images}
    keys = {r["storage_key"] for r in renditions.values()}
    return {
        "case": state["cases"].get(case_id),
        "images": images,
        "renditions": renditions,
        "notes": {k: v for k, v in state["notes"].items() if v["submission_id"] == case_id},
        "objects": {k: v for k, v in state["objects"].items() if k in keys},
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios)
def test_nothing_young_or_held_is_touched_and_everything_due_is_cleared(
    sqlite_db: Database, tmp_path: Path, scenario: Scenario
) -> None:
    sqlite_db.wipe()
    root = tmp_path / "property-objects"
    shutil.rmtree(root, ignore_errors=True)
    store = LocalStore(root)
    tenant_id = make_tenant("clinic-a")
    changes: dict[str, tuple[object, object]] = dict(scenario.policies)
    with tenant_session(tenant_id) as session:
        # As the settings page would save them (validated by the same rules).
        policies = retention_rules.validate(changes, retention_rules.load_policies(session))
        for category, policy in policies.items():
            session.add(
                RetentionPolicy(category=category, retain_days=policy.days, action=policy.action)
            )
        session.commit()
    built = _build(tenant_id, scenario, store)
    first: datetime = built["now"]
    before = _state(tenant_id, store)
    # One sweep, or two: what the first cleared must not change what the second finds due.
    moments = [first]
    result = retention.SweepResult()
    if scenario.later is not None:
        moments.append(first + timedelta(days=scenario.later))
    try:
        for moment in moments:
            clock.set_clock(lambda moment=moment: moment)
            result = retention.sweep(tenant_id, store=store)
    finally:
        clock.set_clock(None)
    after = _state(tenant_id, store)
    now = moments[-1]

    def _held(n: int) -> bool:
        return _is_held(scenario, n, first, now)

    everything = set(CATEGORIES)
    all_delete = all(action == "delete" for _days, action in scenario.policies.values())
    expected_planned = expected_held = 0
    for n, case_id in enumerate(scenario.ids):
        due, held = _due(scenario, n, now), _held(n)
        was, now_is = _of_case(before, case_id), _of_case(after, case_id)
        expected_held += bool(due) and held
        if held or not due:
            # Untouched: the case row, its photos, renditions, notes and objects as they were.
            assert now_is == was, (n, due, held)
            continue
        expected_planned += 1
        if due == everything and all_delete:
            assert now_is["case"] is None and not now_is["images"] and not now_is["notes"]
            assert not now_is["objects"]
            continue
        case = now_is["case"]
        assert case is not None
        assert set(case["retention_cleared"]) == due, (n, due)
        assert (case["deidentified_at"] is not None) == (due == everything)
        if "health_image" in due:
            assert not now_is["images"] and not now_is["objects"]
        else:
            assert now_is["images"] == was["images"] and now_is["objects"] == was["objects"]
        if "special_category" in due:
            assert not now_is["notes"] and case["answers"] == {}
        else:
            assert now_is["notes"] == was["notes"]
            assert case["answers"] == was["case"]["answers"]
        if "device_network" in due:
            assert case["source_ip"] is None and case["user_agent"] is None
        else:
            assert case["source_ip"] == "203.0.113.9"

    # A patient's own record: cleared only when due on every one of their cases, none held.
    for index, patient_id in built["patients"].items():
        theirs = [n for n, spec in enumerate(scenario.cases) if spec.patient == index]
        blocked = any(_held(n) for n in theirs)
        ready = set(everything)
        for n in theirs:
            ready &= _due(scenario, n, now)
        patient = after["patients"].get(patient_id)
        gone = all(
            (_due(scenario, n, now) == everything and all_delete and not _held(n)) for n in theirs
        )
        if gone:
            assert patient is None
            continue
        was = before["patients"][patient_id]
        assert patient is not None
        if blocked or "identity" not in ready:
            assert patient["full_name"] == was["full_name"]
            assert patient["date_of_birth"] == was["date_of_birth"]
        else:
            assert patient["full_name"] == TOMBSTONE_NAME and patient["date_of_birth"] is None
        if blocked or "contact" not in ready:
            assert (patient["email"], patient["phone"]) == (was["email"], was["phone"])
        else:
            assert (patient["email"], patient["phone"]) == ("", None)
        if blocked:
            assert patient == was

    event(f"planned {min(expected_planned, 3)}+, held {min(expected_held, 1)}+")
    event(f"sweeps: {len(moments)}")
    assert (result.held, result.failed) == (expected_held, 0)
    if len(moments) == 1:
        assert result.planned == expected_planned
