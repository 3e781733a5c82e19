"""Staff notices: queued through the outbox with the change they report, per-user choices."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import OutboxMessage, Role, Submission, Tenant
from mi_portal.services import cases, clock, intake, notifications
from mi_portal.services.actor import Actor
from mi_portal.services.inbox import reference
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, two_clinics
from tests.intake_helpers import form, photos

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def H(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture(autouse=True)
def fixed_clock():  # type: ignore[no-untyped-def]
    clock.set_clock(lambda: NOW)
    yield
    clock.set_clock(None)


def _member(tenant_id: uuid.UUID, role: Role, email: str) -> Actor:
    user_id, _ = make_user(email, role=role.value, tenants=(tenant_id,))
    return Actor(user_id=user_id, role=role, tenant_id=tenant_id)


def _notices(tenant_id: uuid.UUID) -> list[OutboxMessage]:
    with tenant_session(tenant_id) as session:
        return list(session.exec(select(OutboxMessage).where(OutboxMessage.kind == "staff_notice")))


def test_a_new_case_notifies_leads_of_that_clinic_only_without_patient_data(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    _member(a, Role.CLINIC_OWNER, "owner-a@staff.test")
    _member(a, Role.VIEWER, "viewer-a@staff.test")
    quiet = _member(a, Role.CLINIC_MANAGER, "quiet-a@staff.test")
    notifications.set_preference(quiet, notifications.NEW_CASE, False)
    _member(b, Role.CLINIC_OWNER, "owner-b@staff.test")
    intake.submit(
        clinic_slugs=["clinic-a"],
        form=form(),
        photos=photos(1),
        ip=None,
        user_agent=None,
        source="t",
    )
    rows = _notices(a)
    assert [r.recipient for r in rows] == ["owner-a@staff.test"]
    assert "Robin" not in rows[0].body and "robin@example.org" not in rows[0].body
    assert "/cases/" in rows[0].body
    assert _notices(b) == []


def test_assigning_notifies_the_assignee_but_not_oneself(db: Database) -> None:
    w = two_clinics()
    manager = _member(w.a, Role.CLINIC_MANAGER, "mgr@staff.test")
    provider = _member(w.a, Role.PROVIDER, "prov@staff.test")
    cases.assign(manager, w.a_submission, str(manager.user_id))
    assert _notices(w.a) == []
    cases.assign(manager, w.a_submission, str(provider.user_id))
    assert [r.recipient for r in _notices(w.a)] == ["prov@staff.test"]
    notifications.set_preference(provider, notifications.ASSIGNED, False)
    cases.assign(manager, w.a_submission, None)
    cases.assign(manager, w.a_submission, str(provider.user_id))
    assert len(_notices(w.a)) == 1


def test_sla_warning_is_sent_once_per_case_and_assignee(db: Database) -> None:
    w = two_clinics()
    provider = _member(w.a, Role.PROVIDER, "prov@staff.test")
    with tenant_session(w.a) as session:
        case = session.get(Submission, (w.a, w.a_submission))
        assert case is not None
        case.assignee_id = provider.user_id
        case.sla_due_at = NOW + timedelta(hours=2)
        session.add(case)
        session.commit()
    assert notifications.sla_sweep() == 1
    assert notifications.sla_sweep() == 0
    rows = _notices(w.a)
    assert len(rows) == 1 and rows[0].recipient == "prov@staff.test"
    assert "due" in rows[0].subject


def test_sla_warning_follows_the_clinics_business_hours_and_clock(db: Database) -> None:
    w = two_clinics()
    with platform_session() as session:
        tenant = session.get(Tenant, w.a)
        assert tenant is not None
        tenant.timezone = "America/New_York"
        tenant.business_hours = {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
        tenant.quote_turnaround_hours = 16  # due soon: 4 business hours left or less
        session.add(tenant)
        session.commit()
    provider = _member(w.a, Role.PROVIDER, "prov@staff.test")
    _, later = make_case(w.a)
    # Now is Tue 1 Dec 04:00 EST: the next 4 business hours end at 13:00 EST (18:00 UTC).
    dues = {w.a_submission: datetime(2026, 12, 1, 17, 30, tzinfo=UTC), later: NOW + H(10)}
    with tenant_session(w.a) as session:
        for case_id, due in dues.items():
            case = session.get(Submission, (w.a, case_id))
            assert case is not None
            case.assignee_id, case.sla_due_at = provider.user_id, due
            session.add(case)
        session.commit()
    # 8.5 wall-clock hours away but within 4 business hours: warned; 19:00 UTC is not yet.
    assert notifications.sla_sweep() == 1
    rows = _notices(w.a)
    assert len(rows) == 1 and reference(w.a_submission) in rows[0].subject
    assert "due 2026-12-01 12:30 EST." in rows[0].body and "UTC" not in rows[0].body


def test_preferences_show_defaults_and_choices(db: Database) -> None:
    w = two_clinics()
    viewer = _member(w.a, Role.VIEWER, "v@staff.test")
    shown = {p.kind: p.enabled for p in notifications.preferences(viewer)}
    assert shown == {"new_case": False, "case_assigned": False, "sla_soon": False}
    notifications.set_preference(viewer, "new_case", True)
    assert notifications.preferences(viewer)[0].enabled is True
    with pytest.raises(ValueError):
        notifications.set_preference(viewer, "everything", True)
