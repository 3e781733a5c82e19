"""What the retention page and the case page read: the history of changes and a case's dates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from mi_portal.db import tenant_session
from mi_portal.models import CaseNote, LegalHold, Role, Submission
from mi_portal.services import retention, retention_rules
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user

RECEIVED = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
ACTIVE = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def _actor(role: Role, tenant_id: uuid.UUID | None, user_id: uuid.UUID | None = None) -> Actor:
    return Actor(user_id=user_id, role=role, tenant_id=tenant_id)


def _dated_case(tenant_id: uuid.UUID) -> uuid.UUID:
    _patient, case_id = make_case(tenant_id)
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        case.received_at, case.last_activity_at = RECEIVED, ACTIVE
        session.add(case)
        session.commit()
    return case_id


def test_policy_history_lists_the_clinics_changes_in_words(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    owner_id, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    owner = _actor(Role.CLINIC_OWNER, a, owner_id)
    assert retention_rules.policy_history(owner) == []
    retention_rules.save_policies(owner, {"health_image": (365, "delete")})
    retention_rules.save_policies(
        owner, {"health_image": ("200", "delete"), "identity": (400, "delete")}
    )
    retention_rules.save_policies(_actor(Role.CLINIC_OWNER, b), {"inference": (30, "delete")})

    history = retention_rules.policy_history(owner)
    assert [h.lines for h in history] == [
        [
            "Photos: 365 days, delete → 200 days, delete",
            "Identity: 1095 days, de-identify (default) → 400 days, delete",
        ],
        ["Photos: 730 days, delete (default) → 365 days, delete"],
    ]
    assert {h.who for h in history} == {"Owner"}
    assert all(h.at.endswith(" UTC") for h in history)
    assert len(retention_rules.policy_history(owner, limit=1)) == 1
    # Another clinic's change is its own; platform staff read after switching in, others never.
    assert [h.lines for h in retention_rules.policy_history(_actor(Role.CLINIC_OWNER, b))] == [
        ["Inferences: 365 days, delete (default) → 30 days, delete"]
    ]
    assert len(retention_rules.policy_history(_actor(Role.PLATFORM_SUPPORT, a))) == 2
    for refused in (
        _actor(Role.CLINIC_MANAGER, a),
        _actor(Role.VIEWER, a),
        _actor(Role.PLATFORM_ADMIN, None),
    ):
        with pytest.raises(PermissionDenied):
            retention_rules.policy_history(refused)


def test_case_due_dates_follow_the_clock_and_the_clinics_settings(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    case_id = _dated_case(a)
    foreign = _dated_case(b)
    viewer = _actor(Role.VIEWER, a)
    dates = retention_rules.case_due_dates(viewer, case_id)
    texts = {d.category: d.text for d in dates.categories}
    assert not dates.deidentified and dates.deidentified_on == ""
    assert texts["health_image"] == "Photos deleted on 2028-01-10"  # 730 days after activity
    assert texts["identity"] == "Identity de-identified on 2029-01-09"
    assert texts["device_network"] == "Device and network deleted on 2026-04-10"
    assert [d.category for d in dates.categories] == [
        c.category for c in retention_rules.CATEGORIES
    ]

    # The clinic's own setting, and later activity (a note), move the dates.
    retention_rules.save_policies(_actor(Role.CLINIC_OWNER, a), {"identity": (400, "delete")})
    with tenant_session(a) as session:
        session.add(
            CaseNote(
                submission_id=case_id,
                body="Follow-up",
                created_at=datetime(2026, 2, 1, 8, 0, tzinfo=UTC),
            )
        )
        session.commit()
    texts = {d.category: d.text for d in retention_rules.case_due_dates(viewer, case_id).categories}
    assert texts["identity"] == "Identity deleted on 2027-03-08"
    assert texts["health_image"] == "Photos deleted on 2028-02-01"
    assert not retention_rules.case_due_dates(viewer, case_id).held
    with tenant_session(a) as session:
        session.add(LegalHold(submission_id=case_id, reason="Complaint under review"))
        session.commit()
    assert retention_rules.case_due_dates(viewer, case_id).held
    # Another clinic's case answers like a missing one; platform support never reads cases.
    for missing in (foreign, uuid.uuid4(), "not-an-id"):
        with pytest.raises(NotFound):
            retention_rules.case_due_dates(viewer, missing)
    with pytest.raises(PermissionDenied):
        retention_rules.case_due_dates(_actor(Role.PLATFORM_SUPPORT, a), case_id)


def test_case_due_dates_say_cleared_and_de_identified(db: Database, later) -> None:  # type: ignore[no-untyped-def]
    a = make_tenant("clinic-a")
    _patient, case_id = make_case(a)
    viewer = _actor(Role.VIEWER, a)
    later(91)  # device and network data only (90 days)
    assert retention.sweep(a).failed == 0
    dates = retention_rules.case_due_dates(viewer, case_id)
    cleared = [d.text for d in dates.categories if d.cleared]
    assert cleared == ["Device and network: cleared"] and not dates.deidentified
    moment = later(4000)
    assert retention.sweep(a).deidentified == 1
    dates = retention_rules.case_due_dates(viewer, case_id)
    assert dates.deidentified and dates.deidentified_on == moment.date().isoformat()
    assert all(d.cleared for d in dates.categories)
