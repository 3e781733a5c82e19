"""The patient locator: keyed digests per clinic, kept on intake, correction and purge; the
platform's lookup returns clinic ids only."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import Patient, PatientLocator, uuid7
from mi_portal.services import rights_locator
from mi_portal.services.intake import submit
from tests.conftest import Database
from tests.factories import make_tenant
from tests.intake_helpers import form, photos


def _patient(tenant_id: uuid.UUID, email: str, phone: str | None = None) -> uuid.UUID:
    with tenant_session(tenant_id) as session:
        patient = Patient(id=uuid7(), full_name="Pat Example", email=email, phone=phone)
        session.add(patient)
        session.flush()
        rights_locator.record_patient(session, patient)
        session.commit()
        return patient.id


def _rows(tenant_id: uuid.UUID) -> list[PatientLocator]:
    with tenant_session(tenant_id) as session:
        return list(
            session.exec(select(PatientLocator).where(col(PatientLocator.tenant_id) == tenant_id))
        )


def test_digests_are_keyed_normalised_and_never_the_address(db: Database) -> None:
    a = rights_locator.digest("email", "  Pat.Example@Example.ORG ")
    assert a == rights_locator.digest("email", "pat.example@example.org")
    assert a is not None and len(a) == 64
    assert a != hashlib.sha256(b"email:pat.example@example.org").hexdigest()  # keyed, not bare
    assert rights_locator.digest("phone", "12") is None  # not a phone number
    assert rights_locator.digest("phone", "+1 202 555 0143") == rights_locator.digest(
        "phone", "+12025550143"
    )
    assert rights_locator.digest("email", "") is None
    assert rights_locator.digest("email", "not an address") is None


def test_lookup_returns_the_clinics_holding_the_person_and_nothing_else(db: Database) -> None:
    a, b, c = make_tenant("clinic-a"), make_tenant("clinic-b"), make_tenant("clinic-c")
    _patient(a, "ann@example.org", "+12025550143")
    _patient(b, "ANN@example.org")
    _patient(c, "other@example.org", "+12025550199")
    found = rights_locator.clinics_holding("ann@example.org", None)
    assert found == sorted([a, b])
    assert all(isinstance(i, uuid.UUID) for i in found)
    assert rights_locator.clinics_holding(None, "+1 202 555 0143") == [a]
    assert rights_locator.clinics_holding("ann@example.org", "+12025550199") == sorted([a, b, c])
    assert rights_locator.clinics_holding("nobody@example.org", None) == []
    assert rights_locator.clinics_holding(None, None) == []


def test_intake_writes_the_digests_in_the_clinics_own_rows(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    submit(
        clinic_slugs=["clinic-a"],
        form=form(email="Ann@Example.org", phone="+1 202 555 0143"),
        photos=photos(1),
        ip="127.0.0.1",
        user_agent="test",
        source="clinic_page",
    )
    kinds = sorted(row.kind for row in _rows(a))
    assert kinds == ["email", "phone"]
    assert _rows(b) == []
    assert rights_locator.clinics_holding("ann@example.org", None) == [a]


def test_a_correction_replaces_and_an_erasure_removes_the_digests(db: Database) -> None:
    a = make_tenant("clinic-a")
    patient_id = _patient(a, "old@example.org", "+12025550143")
    with tenant_session(a) as session:
        patient = session.get(Patient, (a, patient_id))
        assert patient is not None
        patient.email, patient.phone = "new@example.org", None
        session.add(patient)
        rights_locator.record_patient(session, patient)
        session.commit()
    assert rights_locator.clinics_holding("old@example.org", "+12025550143") == []
    assert rights_locator.clinics_holding("new@example.org", None) == [a]
    assert [r.kind for r in _rows(a)] == ["email"]
    with tenant_session(a) as session:
        assert rights_locator.forget_patients(session, [patient_id]) == 1
        session.commit()
    assert rights_locator.clinics_holding("new@example.org", None) == []


def test_rebuild_writes_every_live_patient_once(db: Database) -> None:
    a = make_tenant("clinic-a")
    with tenant_session(a) as session:
        for n in range(3):
            session.add(Patient(id=uuid7(), full_name="P", email=f"p{n}@example.org"))
        session.commit()
    assert _rows(a) == []  # written outside the services that keep the locator
    assert rights_locator.rebuild(a) == 3
    assert rights_locator.rebuild(a) == 3  # again: replaced, not doubled
    assert rights_locator.clinics_holding("p2@example.org", None) == [a]


def test_the_locator_is_written_only_in_a_clinic_session(db: Database) -> None:
    with platform_session() as session, pytest.raises(RuntimeError, match="clinic"):
        rights_locator.forget_patients(session, [uuid7()])


def test_row_level_security_lets_the_platform_read_digests_and_write_nothing(pg: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    _patient(a, "ann@example.org")
    _patient(b, "bea@example.org")

    def app(tenant: uuid.UUID | None = None, platform: bool = False) -> sa.Connection:
        conn = pg.engine.connect()
        conn.begin()
        if tenant is not None:
            conn.execute(
                sa.text("select set_config('app.tenant_id', :t, true)"), {"t": str(tenant)}
            )
        if platform:
            conn.execute(sa.text("select set_config('app.platform', 'on', true)"))
        return conn

    count = sa.text("select count(*) from patientlocator")
    with app(a) as conn:
        assert conn.execute(count).scalar() == 1  # its own row only
    with app(platform=True) as conn:
        assert conn.execute(count).scalar() == 2  # the lookup reads every clinic's digests
        assert conn.execute(sa.text("delete from patientlocator")).rowcount == 0
        assert conn.execute(sa.text("update patientlocator set digest = 'x'")).rowcount == 0
    with app(platform=True) as conn, pytest.raises(DBAPIError, match="row-level security"):
        conn.execute(
            sa.text(
                "insert into patientlocator (tenant_id, id, patient_id, kind, digest, updated_at)"
                " values (cast(:t as uuid), gen_random_uuid(), gen_random_uuid(), 'email', 'x',"
                " now())"
            ),
            {"t": str(a)},
        )
    with app() as conn:
        assert conn.execute(count).scalar() == 0
