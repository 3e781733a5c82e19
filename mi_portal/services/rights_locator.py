"""Which clinics hold data on a person, learnt without opening any clinic's patient table.

Each clinic keeps, beside its patients, a keyed digest (HMAC-SHA256 under a platform key) of
each patient's normalised email and phone in ``patientlocator``. The rows are written in the
clinic's own session, in the transaction that writes the patient (intake, a correction), and go
when retention clears the patient's contact details or the clinic is purged. The platform's
rights-request lookup reads digests only and returns clinic ids, nothing else: no patient id,
no count, no name.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Collection

import sqlalchemy as sa
from sqlmodel import col, select

from mi_portal.config import get_settings
from mi_portal.db import TENANT_KEY, ScopedSession, in_batches, platform_session, tenant_session
from mi_portal.models import Patient, PatientLocator
from mi_portal.services import clock
from mi_portal.services.phones import to_e164
from mi_portal.services.text import clean_email

EMAIL = "email"
PHONE = "phone"


def _key() -> bytes:
    return hashlib.sha256(("patient-locator:" + get_settings().secret_key).encode()).digest()


def normalise(kind: str, value: object) -> str | None:
    """The one stored form of an address, or None when there is none to look up."""
    if value is None or not str(value).strip():
        return None
    try:
        if kind == EMAIL:
            return clean_email(value).lower()
        if kind == PHONE:
            return to_e164(value)
    except ValueError:
        return None
    raise ValueError(f"unknown locator kind {kind!r}")


def digest(kind: str, value: object) -> str | None:
    """The keyed digest of a normalised email or phone (None for an empty or invalid one)."""
    normal = normalise(kind, value)
    if normal is None:
        return None
    return hmac.new(_key(), f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()


def _tenant_of(session: ScopedSession) -> uuid.UUID:
    tenant_id = session.info.get(TENANT_KEY)
    if not isinstance(tenant_id, uuid.UUID):
        raise RuntimeError("the locator is written in a clinic's own session")
    return tenant_id


def record_patient(session: ScopedSession, patient: Patient) -> None:
    """Write (or replace) the patient's digests in the caller's clinic session and transaction.

    An anonymised patient, or one without an address of a kind, has no row of that kind.
    """
    tenant_id = _tenant_of(session)
    wanted = {}
    if patient.anonymized_at is None:
        for kind, value in ((EMAIL, patient.email), (PHONE, patient.phone)):
            found = digest(kind, value)
            if found is not None:
                wanted[kind] = found
    existing = {
        row.kind: row
        for row in session.exec(
            select(PatientLocator).where(
                col(PatientLocator.tenant_id) == tenant_id,
                col(PatientLocator.patient_id) == patient.id,
            )
        )
    }
    now = clock.now()
    for kind, row in existing.items():
        if kind not in wanted:
            session.delete(row)
        elif row.digest != wanted[kind]:
            row.digest, row.updated_at = wanted[kind], now
            session.add(row)
    for kind, value in wanted.items():
        if kind not in existing:
            session.add(
                PatientLocator(
                    tenant_id=tenant_id, patient_id=patient.id, kind=kind, digest=value,
                    updated_at=now,
                )
            )  # fmt: skip


def forget_patients(session: ScopedSession, patient_ids: Collection[uuid.UUID]) -> int:
    """Remove the patients' digests (their contact details were cleared or they are gone)."""
    tenant_id = _tenant_of(session)
    removed = 0
    for batch in in_batches(list(set(patient_ids))):
        result = session.execute(
            sa.delete(PatientLocator).where(
                col(PatientLocator.tenant_id) == tenant_id,
                col(PatientLocator.patient_id).in_(batch),
            )
        )
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed


def forget_clinic(session: ScopedSession) -> int:
    """Remove every digest of the clinic in scope (the clinic is being purged)."""
    tenant_id = _tenant_of(session)
    result = session.execute(
        sa.delete(PatientLocator).where(col(PatientLocator.tenant_id) == tenant_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def rebuild(tenant_id: uuid.UUID) -> int:
    """Write the clinic's digests afresh from its patients (a new key, data from before the
    locator); returns the rows written."""
    with tenant_session(tenant_id) as session:
        forget_clinic(session)
        patients = session.exec(
            select(Patient).where(col(Patient.anonymized_at).is_(None)).order_by(col(Patient.id))
        ).all()
        for patient in patients:
            record_patient(session, patient)
        session.flush()
        written = session.exec(
            select(sa.func.count())
            .select_from(PatientLocator)
            .where(col(PatientLocator.tenant_id) == tenant_id)
        ).one()
        session.commit()
    return int(written)


def clinics_holding(email: str | None, phone: str | None) -> list[uuid.UUID]:
    """The clinics holding a patient with this (verified) email or phone: ids only.

    Read under the platform flag, which row-level security lets read the locator and nothing
    else of a clinic's.
    """
    digests = [d for d in (digest(EMAIL, email), digest(PHONE, phone)) if d is not None]
    if not digests:
        return []
    with platform_session(platform=True) as session:
        found = session.exec(
            select(PatientLocator.tenant_id)
            .where(col(PatientLocator.digest).in_(digests))
            .distinct()
            .order_by(col(PatientLocator.tenant_id))
        ).all()
    return list(found)
