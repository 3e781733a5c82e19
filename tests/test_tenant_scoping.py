"""The ORM layer of tenant isolation, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, update
from sqlmodel import select

from mi_portal.db import TenantScopeError, platform_session, tenant_session
from mi_portal.models import CaseNote, Patient, Submission, Tenant, uuid7
from tests.conftest import Database
from tests.factories import two_clinics


def test_query_without_a_tenant_raises(db: Database) -> None:
    two_clinics()
    with platform_session() as session:
        with pytest.raises(TenantScopeError):
            session.exec(select(Patient)).all()
        with pytest.raises(TenantScopeError):
            session.exec(select(func.count()).select_from(Submission)).one()
        with pytest.raises(TenantScopeError):
            session.exec(
                select(Tenant.slug).join(Submission, Submission.tenant_id == Tenant.id)
            ).all()


def test_get_update_delete_without_a_tenant_raise(db: Database) -> None:
    world = two_clinics()
    with platform_session() as session:
        with pytest.raises(TenantScopeError):
            session.get(Patient, (world.a, world.a_patient))
        with pytest.raises(TenantScopeError):
            session.execute(update(Submission).values(status="closed"))
        with pytest.raises(TenantScopeError):
            session.execute(delete(CaseNote))


def test_insert_without_a_tenant_raises(db: Database) -> None:
    world = two_clinics()
    with platform_session() as session:
        session.add(Patient(tenant_id=world.a, full_name="X", email="x@example.org"))
        with pytest.raises(TenantScopeError):
            session.flush()


def test_platform_tables_need_no_tenant(db: Database) -> None:
    two_clinics()
    with platform_session() as session:
        assert sorted(t.slug for t in session.exec(select(Tenant))) == ["clinic-a", "clinic-b"]


def test_tenant_scope_returns_only_its_rows(db: Database) -> None:
    world = two_clinics()
    with tenant_session(world.a) as session:
        names = [p.full_name for p in session.exec(select(Patient))]
        count = session.exec(select(func.count()).select_from(Submission)).one()
        joined = session.exec(
            select(Patient.full_name).join(Submission, Submission.patient_id == Patient.id)
        ).all()
    assert names == ["Alice A"]
    assert count == 1
    assert joined == ["Alice A"]


def test_explicit_filter_on_another_tenant_finds_nothing(db: Database) -> None:
    world = two_clinics()
    with tenant_session(world.a) as session:
        assert session.exec(select(Patient).where(Patient.tenant_id == world.b)).all() == []
        assert session.get(Patient, (world.b, world.b_patient)) is None


def test_write_takes_tenant_from_the_scope_not_the_input(db: Database) -> None:
    world = two_clinics()
    forged = uuid7()
    with tenant_session(world.a) as session:
        patient = Patient(id=forged, tenant_id=world.b, full_name="Forged", email="f@example.org")
        session.add(patient)
        session.commit()
    with tenant_session(world.b) as session:
        assert session.exec(select(Patient).where(Patient.full_name == "Forged")).all() == []
    with tenant_session(world.a) as session:
        stored = session.exec(select(Patient).where(Patient.full_name == "Forged")).one()
        assert stored.tenant_id == world.a


def test_bulk_update_and_delete_stay_inside_the_tenant(db: Database) -> None:
    world = two_clinics()
    with tenant_session(world.a) as session:
        session.execute(update(Submission).values(status="archived"))
        session.execute(delete(CaseNote))
        session.commit()
    with tenant_session(world.b) as session:
        assert session.exec(select(Submission.status)).all() == ["new"]


def test_moving_a_row_to_another_tenant_raises(db: Database) -> None:
    world = two_clinics()
    with tenant_session(world.a) as session:
        patient = session.exec(select(Patient)).one()
        patient.tenant_id = world.b
        session.add(patient)
        with pytest.raises(TenantScopeError):
            session.flush()


def test_tenant_scope_must_be_a_uuid(db: Database) -> None:
    with pytest.raises(TenantScopeError), tenant_session("clinic-a"):  # type: ignore[arg-type]
        pass


def test_only_a_plain_session_of_the_same_clinic_can_be_lent(db: Database) -> None:
    w = two_clinics()
    with tenant_session(w.a) as own:
        with tenant_session(w.a, lent=own) as used:
            assert used is own
            assert [p.id for p in used.exec(select(Patient))] == [w.a_patient]
        # Still open and usable after the block: the lender closes it.
        assert own.get(Submission, (w.a, w.a_submission)) is not None
        for refused in (
            {"tenant_id": w.b},
            {"tenant_id": w.a, "platform": True},
            {"tenant_id": w.a, "read_only": True},
        ):
            with pytest.raises(TenantScopeError), tenant_session(lent=own, **refused):  # type: ignore[arg-type]
                pass
    with (
        tenant_session(w.a, read_only=True) as reading,
        pytest.raises(TenantScopeError),
        tenant_session(w.a, lent=reading),
    ):
        pass
