"""Legal holds on a case or a patient: placing, releasing, what counts as held, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, LegalHold, Patient, Role, Submission, uuid7
from mi_portal.services import audit, clock
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.inbox import InboxQuery, inbox_page
from mi_portal.services.legal_holds import (
    AlreadyReleased,
    held_case_ids,
    holds_for_case,
    place_hold,
    release_hold,
)
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, owner_session

NOW = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def fixed_clock():  # type: ignore[no-untyped-def]
    clock.set_clock(lambda: NOW)
    yield
    clock.set_clock(None)


def _second_case(tenant_id: uuid.UUID, patient_id: uuid.UUID) -> uuid.UUID:
    with tenant_session(tenant_id) as session:
        case = Submission(id=uuid7(), patient_id=patient_id, concern_area="acne")
        session.add(case)
        session.commit()
        return case.id


@pytest.fixture
def world(db: Database):  # type: ignore[no-untyped-def]
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    coordinator, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    b_owner, _ = make_user("owner@b.test", role="clinic_owner", tenants=(b,))
    patient, first = make_case(a, name="Ava Stone")
    second = _second_case(a, patient)
    _other_patient, other = make_case(a, name="Ben Rivers")
    b_patient, b_case = make_case(b, name="Bo Stone")
    return {
        "a": a,
        "b": b,
        "mgr": Actor(user_id=manager, role=Role.CLINIC_MANAGER, tenant_id=a, home_tenant_id=a),
        "crd": Actor(user_id=coordinator, role=Role.COORDINATOR, tenant_id=a, home_tenant_id=a),
        "b_owner": Actor(user_id=b_owner, role=Role.CLINIC_OWNER, tenant_id=b, home_tenant_id=b),
        "patient": patient,
        "first": first,
        "second": second,
        "other": other,
        "b_patient": b_patient,
        "b_case": b_case,
    }


def _held(tenant_id: uuid.UUID, ids: list[uuid.UUID], now: datetime = NOW) -> set[uuid.UUID]:
    with tenant_session(tenant_id) as session:
        return held_case_ids(session, ids, now)


def _events(tenant_id: uuid.UUID, action: str) -> list[AuditEvent]:
    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.chain == str(tenant_id), AuditEvent.action == action)
                .order_by(col(AuditEvent.seq))
            )
        )


def test_a_case_hold_holds_that_case_only(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    hold_id = place_hold(w["mgr"], case_id=w["first"], reason="  Complaint\u202e received  ")
    everything = [w["first"], w["second"], w["other"]]
    assert _held(w["a"], everything) == {w["first"]}
    views = holds_for_case(w["mgr"], w["first"])
    assert [(v.id, v.scope, v.reason, v.active, v.state_label) for v in views] == [
        (str(hold_id), "case", "Complaint received", True, "Active")
    ]
    assert views[0].placed_by == "Manager" and views[0].placed_at == "2026-11-28 23:30"
    assert holds_for_case(w["mgr"], w["second"]) == []
    [event] = _events(w["a"], "hold.place")
    assert (event.target_type, event.target_id) == ("submission", str(w["first"]))
    assert event.details == {"hold": str(hold_id), "reason": "Complaint received", "ends_on": None}


def test_a_patient_hold_covers_every_case_of_the_patient(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    place_hold(w["mgr"], patient_id=w["patient"], reason="Claim by the patient's lawyer")
    assert _held(w["a"], [w["first"], w["second"], w["other"]]) == {w["first"], w["second"]}
    for case in (w["first"], w["second"]):
        [view] = holds_for_case(w["crd"], case)  # reading needs only the case view
        assert view.scope == "patient" and view.scope_label == "Every case of this patient"
    # A case created after the hold is covered too: the hold is on the patient, not a list.
    third = _second_case(w["a"], w["patient"])
    assert _held(w["a"], [third]) == {third}
    [event] = _events(w["a"], "hold.place")
    assert (event.target_type, event.target_id) == ("patient", str(w["patient"]))
    inbox = {r.id: r.held for r in inbox_page(w["mgr"], InboxQuery()).rows}
    assert inbox == {
        str(w["first"]): True,
        str(w["second"]): True,
        str(third): True,
        str(w["other"]): False,
    }


def test_an_end_date_holds_through_that_day_and_no_longer(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    place_hold(w["mgr"], case_id=w["first"], reason="Until the hearing", ends_on="2026-11-30")
    place_hold(w["mgr"], patient_id=w["patient"], reason="Today only", ends_on=TODAY)
    assert _held(w["a"], [w["first"], w["second"]]) == {w["first"], w["second"]}
    next_day = NOW + timedelta(hours=1)  # 2026-11-29 00:30 UTC: the patient hold has ended
    assert _held(w["a"], [w["first"], w["second"]], next_day) == {w["first"]}
    after = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
    assert _held(w["a"], [w["first"], w["second"]], after) == set()
    clock.set_clock(lambda: after)
    views = holds_for_case(w["mgr"], w["first"])
    assert sorted((v.active, v.state_label, v.ends_on) for v in views) == [
        (False, "Ended", "2026-11-28"),
        (False, "Ended", "2026-11-30"),
    ]


def test_inputs_are_checked(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    for bad in ("", "  ", "ab", "\u200b\u200bab", "x" * 1001):
        with pytest.raises(ValueError):
            place_hold(w["mgr"], case_id=w["first"], reason=bad)
    with pytest.raises(ValueError, match="past"):
        place_hold(w["mgr"], case_id=w["first"], reason="Dispute", ends_on="2026-11-27")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        place_hold(w["mgr"], case_id=w["first"], reason="Dispute", ends_on="next week")
    with pytest.raises(ValueError, match="either"):
        place_hold(w["mgr"], reason="Dispute")
    with pytest.raises(ValueError, match="either"):
        place_hold(w["mgr"], case_id=w["first"], patient_id=w["patient"], reason="Dispute")
    assert place_hold(w["mgr"], case_id=w["first"], reason="x" * 1000, ends_on=date(2027, 1, 1))
    with tenant_session(w["a"]) as session:
        assert len(session.exec(select(LegalHold)).all()) == 1


def test_only_those_who_manage_holds_place_and_release(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    with pytest.raises(PermissionDenied):
        place_hold(w["crd"], case_id=w["first"], reason="Dispute")
    hold_id = place_hold(w["mgr"], case_id=w["first"], reason="Dispute")
    with pytest.raises(PermissionDenied):
        release_hold(w["crd"], hold_id, reason="Settled")
    assert _held(w["a"], [w["first"]]) == {w["first"]}


def test_release_is_audited_with_old_and_new_and_happens_once(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    hold_id = place_hold(w["mgr"], patient_id=w["patient"], reason="Claim", ends_on="2027-06-01")
    with pytest.raises(ValueError):
        release_hold(w["mgr"], hold_id, reason=" ")
    assert _held(w["a"], [w["first"]]) == {w["first"]}
    release_hold(w["mgr"], hold_id, reason="Claim withdrawn")
    assert _held(w["a"], [w["first"], w["second"]]) == set()
    with pytest.raises(AlreadyReleased, match="already been released"):
        release_hold(w["mgr"], hold_id, reason="Again")
    [event] = _events(w["a"], "hold.release")
    assert (event.target_type, event.target_id, event.user_id) == (
        "patient",
        str(w["patient"]),
        w["mgr"].user_id,
    )
    assert event.details == {
        "hold": str(hold_id),
        "reason": "Claim withdrawn",
        "ends_on": "2027-06-01",
        "old": {"released_at": None, "release_reason": ""},
        "new": {"released_at": NOW.isoformat(), "release_reason": "Claim withdrawn"},
    }
    [view] = holds_for_case(w["mgr"], w["second"])
    assert (view.active, view.state_label, view.released_by, view.release_reason) == (
        False,
        "Released",
        "Manager",
        "Claim withdrawn",
    )
    assert audit.verify_chain(str(w["a"])) is None


def test_active_holds_are_listed_first(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    first = place_hold(w["mgr"], case_id=w["first"], reason="Oldest, to release")
    clock.set_clock(lambda: NOW + timedelta(minutes=1))
    second = place_hold(w["mgr"], patient_id=w["patient"], reason="Kept")
    clock.set_clock(lambda: NOW + timedelta(minutes=2))
    release_hold(w["mgr"], first, reason="Done with it")
    third = place_hold(w["mgr"], case_id=w["first"], reason="Newest")
    views = holds_for_case(w["mgr"], w["first"])
    assert [v.id for v in views] == [str(third), str(second), str(first)]
    assert [v.active for v in views] == [True, True, False]


def test_another_clinics_case_patient_and_hold_answer_like_missing_ones(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    for target in (w["b_case"], uuid.uuid4(), "junk"):
        with pytest.raises(NotFound):
            place_hold(w["mgr"], case_id=target, reason="Dispute")
        with pytest.raises(NotFound):
            holds_for_case(w["mgr"], target)
    for target in (w["b_patient"], uuid.uuid4(), "junk"):
        with pytest.raises(NotFound):
            place_hold(w["mgr"], patient_id=target, reason="Dispute")
    b_hold = place_hold(w["b_owner"], case_id=w["b_case"], reason="Clinic B's own hold")
    for target in (b_hold, uuid.uuid4(), "junk"):
        with pytest.raises(NotFound):
            release_hold(w["mgr"], target, reason="Not yours")
    # Clinic A asking about B's case ids never gets them back, even while they are held.
    place_hold(w["mgr"], case_id=w["first"], reason="Clinic A's hold")
    assert _held(w["a"], [w["b_case"], w["first"]]) == {w["first"]}
    assert _held(w["b"], [w["b_case"], w["first"]]) == {w["b_case"]}
    with tenant_session(w["b"]) as session:
        b_rows = session.exec(select(LegalHold)).all()
        assert [(r.submission_id, r.released_at) for r in b_rows] == [(w["b_case"], None)]
    assert not _events(w["b"], "hold.release")


def test_a_patient_hold_of_another_clinic_never_holds_a_case_here(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    place_hold(w["b_owner"], patient_id=w["b_patient"], reason="B's claim")
    assert _held(w["a"], [w["first"], w["second"], w["other"]]) == set()
    assert _held(w["b"], [w["b_case"]]) == {w["b_case"]}


def test_many_case_ids_are_asked_in_chunks(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    place_hold(w["mgr"], case_id=w["other"], reason="Dispute")
    asked = [uuid.uuid4() for _ in range(1200)] + [w["other"], str(w["first"])]
    assert _held(w["a"], asked) == {w["other"]}  # type: ignore[arg-type]


def test_patient_hold_names_the_patient_only_by_id(world) -> None:  # type: ignore[no-untyped-def]
    w = world
    place_hold(w["mgr"], patient_id=w["patient"], reason="Claim")
    [event] = _events(w["a"], "hold.place")
    with tenant_session(w["a"]) as session:
        name = session.exec(select(Patient.full_name).where(Patient.id == w["patient"])).one()
    assert name not in str(event.details)


def test_the_queue_asks_about_holds_once_per_page(world, db: Database) -> None:  # type: ignore[no-untyped-def]
    w = world
    place_hold(w["mgr"], case_id=w["other"], reason="Dispute")
    seen: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if "legalhold" in statement.lower():
            seen.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        rows = inbox_page(w["mgr"], InboxQuery()).rows
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    assert len(rows) == 3 and [r.held for r in rows].count(True) == 1
    assert len(seen) == 1  # the page's rows together, not one query per row
    assert "submission.tenant_id =" in seen[0] and "legalhold.tenant_id =" in seen[0]
