"""A deletion request answered inside one clinic: the requester's cases and photos go through
the retention purge, held cases stay and are listed with why, nobody else's data is touched."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import (
    ConsentRecord,
    Patient,
    PatientLocator,
    RightsRequestForward,
    Submission,
)
from mi_portal.services import (
    audit,
    clock,
    legal_holds,
    retention,
    rights_access,
    storage_check,
    tenant_purge,
)
from mi_portal.services.actor import NotFound
from mi_portal.services.retention_rules import CATEGORIES, Policy
from mi_portal.services.rights_erase import AUDIT_KEPT, DEIDENTIFIED, EraseError, erase
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_tenant, owner_session
from tests.rights_helpers import all_keys, case, forward, owner


def _patient(tenant_id: uuid.UUID, case_id: uuid.UUID) -> uuid.UUID:
    with tenant_session(tenant_id) as session:
        return session.exec(select(Submission.patient_id).where(Submission.id == case_id)).one()


def _locators(tenant_id: uuid.UUID, patient_id: uuid.UUID) -> int:
    with tenant_session(tenant_id) as session:
        return len(
            list(
                session.exec(select(PatientLocator).where(PatientLocator.patient_id == patient_id))
            )
        )


def _cases(tenant_id: uuid.UUID) -> set[uuid.UUID]:
    with tenant_session(tenant_id) as session:
        return set(session.exec(select(Submission.id)))


@pytest.fixture
def world(db: Database) -> dict[str, uuid.UUID]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    return {
        "a": a,
        "b": b,
        "gone": case("clinic-a", n_photos=2),
        "held": case("clinic-a", n_photos=1),
        "sam": case("clinic-a", email="sam@example.org", full_name="Sam Other",
                    phone="+1 202 555 0199"),
        "b_case": case("clinic-b"),
    }  # fmt: skip


def test_erasure_removes_her_cases_keeps_the_held_one_and_nobody_elses(world) -> None:  # type: ignore[no-untyped-def]
    a, b = world["a"], world["b"]
    legal_holds.place_hold(owner(a), case_id=world["held"], reason="Disputed invoice <pending>")
    gone_keys, held_keys = all_keys(a, world["gone"]), all_keys(a, world["held"])
    sam_keys, b_keys = all_keys(a, world["sam"]), all_keys(b, world["b_case"])
    gone_patient, held_patient = _patient(a, world["gone"]), _patient(a, world["held"])
    sam_patient = _patient(a, world["sam"])
    assert _locators(a, gone_patient) == 2
    b_before = _cases(b)

    result = erase(owner(a), forward(a, "deletion"))

    assert result.patients == 2 and result.cases == 2
    assert result.run_id is not None and result.line.startswith("planned=1 purged=1")
    # Her unheld case, its photos and her record behind it: gone, verified in the store.
    assert _cases(a) == {world["held"], world["sam"]}
    assert gone_keys and all(get_store().gone(k) for k in gone_keys)  # type: ignore[union-attr]
    with tenant_session(a) as session:
        assert session.get(Patient, (a, gone_patient)) is None
        consents = session.exec(
            select(ConsentRecord).where(ConsentRecord.patient_id == gone_patient)
        ).all()
        assert consents == []
    assert _locators(a, gone_patient) == 0
    # The held case stays whole, listed with the hold's reason (for the clinic's eyes only).
    assert all(get_store().exists(k) for k in held_keys)
    label = f"Case {str(world['held'])[-8:].upper()}"
    assert [k for k in result.kept if k[0].startswith(label)] == [
        (result.kept[0][0], "legal hold: Disputed invoice <pending>")
    ]
    assert ("Patient record", result.kept[1][1]) in result.kept
    assert AUDIT_KEPT in result.kept
    assert _locators(a, held_patient) == 2
    # Sam's case in the same clinic and clinic B's copy of her: untouched.
    assert all(get_store().exists(k) for k in sam_keys + b_keys)
    assert _cases(b) == b_before and _locators(a, sam_patient) == 2
    # The proof is the retention run's; the store and the rows agree; the chain verifies.
    proof = retention.proof_document(owner(a), result.run_id)
    assert proof["trigger"] == "rights-request" and len(proof["items"]) == 1
    assert proof["items"][0]["subject_sha256"] == retention.subject_hash(world["gone"])
    report = storage_check.check()
    assert report.orphan_objects == [] and report.missing_objects == []
    assert audit.verify_chain(audit.chain_for(a)) is None
    assert audit.verify_chain(audit.chain_for(b)) is None
    with tenant_session(a) as session:
        answered = session.exec(select(RightsRequestForward)).one()
        # The forward records what was done, without the hold's own words.
        assert answered.result["erasure"]["run_ids"] == [str(result.run_id)]
        assert "Disputed" not in str(answered.result)


def test_a_hold_on_the_patient_keeps_that_patients_cases(world) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    # Each intake made its own patient record: the hold covers the first one's cases only.
    patient = _patient(a, world["gone"])
    legal_holds.place_hold(owner(a), patient_id=patient, reason="Complaint under review")
    result = erase(owner(a), forward(a, "deletion"))
    assert _cases(a) == {world["gone"], world["sam"]}
    reasons = [why for what, why in result.kept if what.startswith("Case")]
    assert reasons == ["legal hold: Complaint under review"]
    assert audit.verify_chain(audit.chain_for(a)) is None


def test_the_requesters_access_package_goes_with_the_erasure(world) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    access = forward(a, "access", email="ROBIN@example.org")
    preview = rights_access.prepare_package(owner(a), access)
    token = rights_access.send_package(owner(a), access).rsplit("/", 1)[1]
    result = erase(owner(a), forward(a, "deletion"))
    assert result.packages == 1
    assert get_store().gone(preview.package_key)  # type: ignore[union-attr]
    assert rights_access.redeem(token, ip=None, user_agent=None) is None
    report = storage_check.check()
    assert report.orphan_objects == [] and report.missing_objects == []


def test_only_a_deletion_request_of_the_actors_own_clinic(world) -> None:  # type: ignore[no-untyped-def]
    a, b = world["a"], world["b"]
    with pytest.raises(EraseError):
        erase(owner(a), forward(a, "access"))
    deletion = forward(a, "deletion")
    with pytest.raises(NotFound):
        erase(owner(b), deletion)
    with pytest.raises(EraseError):  # no patient of B has this address: nothing to erase
        erase(owner(b), forward(b, "deletion", email="nobody@example.org"))
    assert world["gone"] in _cases(a)


def test_a_requester_with_no_case_left_loses_the_record_and_its_digests(world) -> None:  # type: ignore[no-untyped-def]
    a = world["a"]
    with tenant_session(a) as session:
        session.add(Patient(full_name="Robin Patient", email="robin@example.org"))
        session.commit()
        lone = session.exec(
            select(Patient.id).order_by(col(Patient.created_at).desc()).limit(1)
        ).one()
    result = erase(owner(a), forward(a, "deletion"))
    assert result.patients == 3
    with tenant_session(a) as session:
        left = session.exec(select(Patient.id).where(Patient.email == "robin@example.org")).all()
    assert left == [] and lone not in left


def test_locator_digests_go_when_retention_clears_contact_and_when_a_clinic_is_purged(
    world,  # type: ignore[no-untyped-def]
) -> None:
    a = world["a"]
    patient = _patient(a, world["gone"])
    # Every category due and de-identified: the patient is kept as an anonymous tombstone.
    policies = {c.category: Policy(c.category, 0, "deidentify", False) for c in CATEGORIES}
    retention.sweep(a, policies=policies, patients=[patient])
    with tenant_session(a) as session:
        row = session.get(Patient, (a, patient))
        assert row is not None and row.anonymized_at is not None
    assert _locators(a, patient) == 0
    assert _locators(a, _patient(a, world["sam"])) == 2  # limited to the patient asked for
    tenant_purge.purge_tenant("clinic-b", confirm="clinic-b")
    with owner_session() as session:
        tenants = set(session.exec(select(PatientLocator.tenant_id)))
    assert tenants == {a}


def test_a_case_retention_already_de_identified_is_listed_as_such(db: Database) -> None:
    a = make_tenant("clinic-a")
    start = clock.now()
    first = case("clinic-a", n_photos=1)
    patient = _patient(a, first)
    later = start + timedelta(days=100)
    try:
        clock.set_clock(lambda: later)
        with tenant_session(a) as session:
            second = Submission(patient_id=patient, concern_area="acne", received_at=later,
                                last_activity_at=later)  # fmt: skip
            session.add(second)
            session.commit()
            second_id = second.id
        policies = {c.category: Policy(c.category, 30, "deidentify", False) for c in CATEGORIES}
        assert retention.sweep(a, policies=policies).line().startswith("planned=1")
        result = erase(owner(a), forward(a, "deletion"))
    finally:
        clock.set_clock(None)
    assert _cases(a) == {first}
    assert second_id not in _cases(a)
    label = f"Case {str(first)[-8:].upper()}"
    assert [why for what, why in result.kept if what.startswith(label)] == [DEIDENTIFIED]
    with tenant_session(a) as session:
        row = session.get(Patient, (a, patient))
        assert row is not None and row.anonymized_at is not None
    assert _locators(a, patient) == 0
