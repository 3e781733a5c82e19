"""Demo privacy-rights requests: one in each status and of each kind, made through the same
services the public form, the platform's work list and the clinics' pages use.

A person who sent the multi-clinic form to two clinics has an access request waiting to be
forwarded; others are forwarded, in progress, answered, denied, withdrawn, closed with no data
held, not yet confirmed, and expired.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlmodel import col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import Patient, PlatformOutboxMessage, RightsRequest, Role
from mi_portal.services import clock, rights, rights_clinic, rights_intake, rights_locator
from mi_portal.services.actor import Actor

DEMO_AGENT = "Mozilla/5.0 (demo seed)"
MIN_PATIENTS = 3  # each clinic's first three patients play a part
_CODE = re.compile(r"\b(\d{6})\b")


def _code_for(reference: str) -> str:
    """The code the patient was emailed, read from the platform's outbox (as a mailbox would)."""
    with platform_session() as session:
        request = session.exec(
            select(RightsRequest).where(col(RightsRequest.reference) == reference)
        ).one()
        bodies = session.exec(
            select(PlatformOutboxMessage.body)
            .where(col(PlatformOutboxMessage.recipient) == request.requester_email)
            .order_by(col(PlatformOutboxMessage.created_at).desc())
        ).all()
    for body in bodies:
        if reference in body and (found := _CODE.search(body)):
            return found.group(1)
    raise RuntimeError("no code was queued for the demo request")


def _request(
    kind: str,
    name: str,
    email: str,
    jurisdiction: str,
    details: str = "",
    *,
    verify: bool = True,
) -> str:
    form = rights_intake.RequestForm(
        kind=kind, requester_name=name, requester_email=email, jurisdiction=jurisdiction,
        details=details,
    )  # fmt: skip
    # Each demo requester writes from an address of their own (the form is rate-limited).
    ip = f"203.0.113.{41 + sum(map(ord, email)) % 200}"
    reference = rights_intake.submit(form, authorisation=None, ip=ip, user_agent=DEMO_AGENT)
    if verify:
        outcome = rights_intake.verify(reference, _code_for(reference), ip=ip)
        if outcome.state != "verified":
            raise RuntimeError(f"demo request not verified: {outcome.state}")
    return reference


def _request_id(reference: str) -> uuid.UUID:
    with platform_session() as session:
        return session.exec(
            select(RightsRequest.id).where(col(RightsRequest.reference) == reference)
        ).one()


def _patient_email(tenant_id: uuid.UUID, skip: int) -> tuple[str, str]:
    """(name, email) of one of the clinic's demo patients."""
    with tenant_session(tenant_id) as session:
        patient = session.exec(
            select(Patient)
            .where(col(Patient.anonymized_at).is_(None))
            .order_by(col(Patient.created_at), col(Patient.id))
            .offset(skip)
            .limit(1)
        ).one()
        return patient.full_name, patient.email


def _two_clinic_patient(clinics: tuple[uuid.UUID, uuid.UUID]) -> tuple[str, str]:
    """A person known to two clinics: each clinic's third demo patient becomes the same person
    (as if they had sent the multi-clinic form), each clinic holding its own copy."""
    name, email, phone = "Jordan Rivera", "jordan.rivera@example.org", "+12025550188"
    for tenant_id in clinics:
        with tenant_session(tenant_id) as session:
            patient = session.exec(
                select(Patient)
                .where(col(Patient.anonymized_at).is_(None))
                .order_by(col(Patient.created_at), col(Patient.id))
                .offset(2)
                .limit(1)
            ).one()
            patient.full_name, patient.email, patient.phone = name, email, phone
            session.add(patient)
            rights_locator.record_patient(session, patient)
            session.commit()
    return name, email


def _forward_to(admin: Actor, reference: str) -> None:
    rights.forward(admin, _request_id(reference))


def _forward_id(tenant_id: uuid.UUID, reference: str) -> uuid.UUID:
    from mi_portal.models import RightsRequestForward

    with tenant_session(tenant_id) as session:
        return session.exec(
            select(RightsRequestForward.id).where(col(RightsRequestForward.reference) == reference)
        ).one()


def seed_rights(clinic_ids: dict[str, uuid.UUID], user_ids: dict[str, uuid.UUID]) -> int:
    """The demo requests, once; returns how many were made."""
    with platform_session() as session:
        if session.exec(select(RightsRequest.id)).first() is not None:
            return 0
    for tenant_id in clinic_ids.values():
        with tenant_session(tenant_id) as session:
            if len(session.exec(select(Patient.id).limit(MIN_PATIENTS)).all()) < MIN_PATIENTS:
                return 0  # a tiny demo (tests): too few patients to play every part
    admin = Actor(user_id=user_ids["admin@mi-portal.test"], role=Role.PLATFORM_ADMIN)
    derm, aesthetics, dental = (
        clinic_ids["lakeside-derm"], clinic_ids["riverbend-aesthetics"],
        clinic_ids["summit-dental"],
    )  # fmt: skip

    def manager(slug: str) -> Actor:
        return Actor(user_id=user_ids[f"manager@{slug}.test"], role=Role.CLINIC_MANAGER,
                     tenant_id=clinic_ids[slug])  # fmt: skip

    made = 0
    # Expired: sent 31 days ago and never confirmed (its details are gone).
    start = clock.now()
    clock.set_clock(lambda: start - timedelta(days=31))
    try:
        _request("deletion", "Casey Morgan", "casey.morgan@example.org", "US-TX", verify=False)
    finally:
        clock.set_clock(None)
    rights_intake.expire_unverified()
    made += 1
    # Not confirmed yet (hidden from the work list unless asked for).
    _request("correction", "Sam Taylor", "sam.taylor@example.org", "GB",
             "My surname is misspelt.", verify=False)  # fmt: skip
    made += 1
    # Pending: held by two clinics, waiting for the platform to forward it.
    name, email = _two_clinic_patient((derm, aesthetics))
    _request("access", name, email, "US-CA", "Please send me everything you hold about me.")
    made += 1
    # Forwarded: an erasure request the clinic has not opened yet.
    name, email = _patient_email(derm, 0)
    _forward_to(admin, _request("deletion", name, email, "US-CA", "Please delete my photos."))
    made += 1
    # In progress: the clinic has started on an opt-out.
    name, email = _patient_email(aesthetics, 0)
    reference = _request("opt_out", name, email, "US-CO")
    _forward_to(admin, reference)
    rights_clinic.start(manager("riverbend-aesthetics"), _forward_id(aesthetics, reference))
    made += 1
    # Completed: the clinic recorded a limit on sensitive data.
    name, email = _patient_email(dental, 0)
    reference = _request("limit", name, email, "DE")
    _forward_to(admin, reference)
    rights_clinic.limit(manager("summit-dental"), _forward_id(dental, reference))
    made += 1
    # Denied by the clinic, with the reason the requester sees.
    name, email = _patient_email(derm, 1)
    reference = _request("correction", name, email, "FR", "My date of birth is wrong.")
    _forward_to(admin, reference)
    rights_clinic.deny_forward(
        manager("lakeside-derm"), _forward_id(derm, reference),
        "We hold the date of birth you gave on your form; reply with proof of the correct one.",
    )  # fmt: skip
    made += 1
    # Completed with no data held anywhere.
    reference = _request("access", "Alex Kim", "alex.kim@example.org", "US-NY")
    rights.close_no_data(admin, _request_id(reference))
    made += 1
    # Withdrawn by the requester before it was forwarded.
    reference = _request("opt_out", "Robin Lee", "robin.lee@example.org", "IE")
    rights.withdraw(admin, _request_id(reference), "The requester wrote to withdraw it.")
    made += 1
    return made
