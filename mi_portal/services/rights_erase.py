"""Answering a deletion request inside one clinic: the requester's data goes through the
retention purge, with its proof.

The purge is the retention sweep limited to the requester's patients, with every category due
now and deleted (the off-boarding policies): their photos and files are purged from the store
and verified gone before their rows go, their audit entries lose their personal details, their
locator digests go, and the run's proof is on the retention page like any other run. A case
under a legal hold is not touched; it is listed with the hold's reason (staff text, shown to
the clinic only). What the law makes the clinic keep is listed too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, or_, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import (
    ForwardStatus,
    LegalHold,
    Patient,
    RightsRequestForward,
    RightsRequestKind,
    Submission,
)
from mi_portal.services import audit, clock, retention, retention_erase, rights_locator
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.inbox import reference
from mi_portal.services.legal_holds import active_hold_clause, held_case_ids
from mi_portal.services.permissions import Permission, check
from mi_portal.services.retention_rules import activity_clock, still_cleared
from mi_portal.services.rights_access import TARGET, matching_patients
from mi_portal.services.tenant_purge import EVERYTHING_NOW
from mi_portal.storage import BlobStore, get_store

TRIGGER = "rights-request"
PASSES = 3  # an interrupted earlier run's items are finished first; the next pass plans the rest
AUDIT_KEPT = (
    "Audit log",
    "Kept under a legal duty: the clinic's security log keeps that each event happened (which "
    "staff member did what, and when); the personal details of its entries about this patient "
    "are erased.",
)
DEIDENTIFIED = (
    "Already a de-identified record (kept for aggregate figures): no personal details are left "
    "in it."
)
NOT_YET = "Could not be erased yet (a storage step failed); run the erasure again."
RECORD_KEPT = (
    "Kept while a held case needs it: the patient's name and contact details stay with the "
    "held case."
)


class EraseError(ValueError):
    """The erasure cannot run as asked; the message is for the clinic."""


@dataclass
class EraseResult:
    """What went and what stayed: ``kept`` is (what, why), shown to the clinic only."""

    kept: list[tuple[str, str]] = field(default_factory=list)
    run_id: uuid.UUID | None = None
    line: str = ""
    run_ids: list[uuid.UUID] = field(default_factory=list)
    patients: int = 0
    cases: int = 0  # the patients' cases before the erasure
    packages: int = 0  # access packages made for the same requester, purged


def _label(case_id: uuid.UUID, received: object) -> str:
    day = getattr(received, "date", lambda: None)()
    return f"Case {reference(case_id)}" + (f" (received {day:%Y-%m-%d})" if day else "")


def _forward(
    session: ScopedSession, tenant_id: uuid.UUID, forward_id: object
) -> RightsRequestForward:
    forward = session.get(RightsRequestForward, (tenant_id, parse_id(forward_id, "request")))
    if forward is None:
        raise NotFound("request")
    if forward.kind != RightsRequestKind.DELETION.value:
        raise EraseError("Only a deletion request erases a patient's data.")
    if forward.status in (ForwardStatus.COMPLETED.value, ForwardStatus.DENIED.value):
        raise EraseError("This request has already been answered.")
    return forward


def _cases_left(session: ScopedSession, patient_ids: list[uuid.UUID]) -> list[Submission]:
    if not patient_ids:
        return []
    return list(
        session.exec(
            select(Submission)
            .where(col(Submission.patient_id).in_(patient_ids))
            .order_by(col(Submission.received_at), col(Submission.id))
        )
    )


def erase(actor: Actor, forward_id: object, *, store: BlobStore | None = None) -> EraseResult:
    """Erase the requester's data in the actor's clinic; held cases stay, listed with why."""
    check(actor, Permission.RIGHTS_ANSWER)
    tenant_id = actor.require_tenant()
    store = store or get_store()
    found = EraseResult()
    with tenant_session(tenant_id) as session:
        forward = _forward(session, tenant_id, forward_id)
        forward_uuid = forward.id
        patient_ids = [p.id for p in matching_patients(session, forward)]
        if not patient_ids:
            raise EraseError(
                "No patient of this clinic has the requester's email address or phone number."
            )
        found.patients = len(patient_ids)
        found.cases = len(_cases_left(session, patient_ids))
    total = retention.SweepResult()
    for _attempt in range(PASSES):
        try:
            run = retention.sweep(
                tenant_id,
                trigger=TRIGGER,
                actor=actor,
                store=store,
                policies=EVERYTHING_NOW,
                patients=patient_ids,
            )
        except retention.SweepBusy:
            raise EraseError(
                "A retention run of this clinic is in progress; try again in a few minutes."
            ) from None
        total.add(run)
        if run.run_id is not None:
            found.run_ids.append(run.run_id)
        with tenant_session(tenant_id) as session:
            if not _still_to_erase(session, patient_ids):
                break
    found.run_id = found.run_ids[0] if found.run_ids else None
    found.line = total.line()
    with tenant_session(tenant_id) as session:
        found.kept = _what_stays(session, patient_ids)
        forward = _forward(session, tenant_id, forward_uuid)
        found.packages = _drop_packages(session, forward, store)
        # The forward keeps what was done, without the holds' own words (staff text).
        forward.result = {
            **(forward.result or {}),
            "erasure": {
                "run_ids": [str(r) for r in found.run_ids],
                "summary": found.line,
                "kept": [
                    [what, "legal hold" if why.startswith("legal hold:") else why]
                    for what, why in found.kept
                ],
            },
        }
        session.add(forward)
        session.commit()
    audit.record(
        actor,
        "rights.erased",
        target_type=TARGET,
        target_id=forward_uuid,
        details={
            "runs": [str(r) for r in found.run_ids],
            "summary": found.line,
            "kept": len(found.kept),
        },
    )
    return found


def _drop_packages(session: ScopedSession, forward: RightsRequestForward, store: BlobStore) -> int:
    """Purge the access packages this clinic made for the same requester (copies of the data
    just erased); their links stop working."""
    mine = {
        (kind, rights_locator.normalise(kind, value))
        for kind, value in (
            (rights_locator.EMAIL, forward.requester_email),
            (rights_locator.PHONE, forward.requester_phone),
        )
    }
    mine = {m for m in mine if m[1]}
    dropped = 0
    for other in session.exec(
        select(RightsRequestForward).where(col(RightsRequestForward.package_key).is_not(None))
    ):
        theirs = {
            (rights_locator.EMAIL, rights_locator.normalise("email", other.requester_email)),
            (rights_locator.PHONE, rights_locator.normalise("phone", other.requester_phone)),
        }
        if not mine & theirs or other.package_key is None:
            continue
        store.purge(other.package_key)
        other.package_key, other.package_sha256 = None, ""
        other.link_digest = other.link_expires_at = None
        session.add(other)
        dropped += 1
    return dropped


def _still_to_erase(session: ScopedSession, patient_ids: list[uuid.UUID]) -> bool:
    """Whether any of the patients' cases is neither held nor a de-identified record."""
    cases = _cases_left(session, patient_ids)
    held = held_case_ids(session, [c.id for c in cases], clock.now())
    clocks = activity_clock(session, [c.id for c in cases]) if cases else {}
    return any(
        c.id not in held
        and not (c.deidentified_at is not None and _fully_cleared(c, clocks.get(c.id)))
        for c in cases
    )


def _fully_cleared(case: Submission, last_activity: datetime | None) -> bool:
    """Every category cleared, with no activity since (retention's de-identified record)."""
    if last_activity is None:
        return False
    cleared = still_cleared(case.retention_cleared, case.retention_cleared_at, last_activity)
    return cleared >= retention.ALL_CATEGORIES


def _what_stays(session: ScopedSession, patient_ids: list[uuid.UUID]) -> list[tuple[str, str]]:
    """Held cases with their holds' reasons, cases a failed step left, and the patient records
    they keep; patients left with no case at all go here (the sweep plans by case)."""
    now = clock.now()
    cases = _cases_left(session, patient_ids)
    held = held_case_ids(session, [c.id for c in cases], now)
    reasons: dict[uuid.UUID, list[str]] = {}
    if cases:
        holds = session.exec(
            select(LegalHold).where(
                active_hold_clause(now),
                or_(
                    col(LegalHold.submission_id).in_([c.id for c in cases]),
                    col(LegalHold.patient_id).in_(patient_ids),
                ),
            )
        )
        of_patient: dict[uuid.UUID, list[str]] = {}
        for hold in holds:
            if hold.submission_id is not None:
                reasons.setdefault(hold.submission_id, []).append(hold.reason)
            elif hold.patient_id is not None:
                of_patient.setdefault(hold.patient_id, []).append(hold.reason)
        for case in cases:
            reasons.setdefault(case.id, []).extend(of_patient.get(case.patient_id, []))
    kept: list[tuple[str, str]] = []
    clocks = activity_clock(session, [c.id for c in cases]) if cases else {}
    for case in cases:
        label = _label(case.id, case.received_at)
        if case.id in held:
            for reason in reasons.get(case.id) or ["(no reason given)"]:
                kept.append((label, f"legal hold: {reason}"))
        elif case.deidentified_at is not None and _fully_cleared(case, clocks.get(case.id)):
            kept.append((label, DEIDENTIFIED))
        else:
            kept.append((label, NOT_YET))
    with_cases = {c.patient_id for c in cases}
    caseless = [p for p in patient_ids if p not in with_cases]
    if caseless:
        # A patient record with no case (left by an earlier purge): nothing plans it, so it
        # goes here, with its consents, digests and audit details.
        removed = retention_erase.clear_patients(session, caseless, [], now)
        audit.erase_personal(session, [str(p) for p in removed], keep_staff_network=True)
    for patient_id in sorted(with_cases):
        patient = session.get(Patient, (session.tenant_id, patient_id))
        if patient is not None and patient.anonymized_at is None:
            kept.append(("Patient record", RECORD_KEPT))
    kept.append(AUDIT_KEPT)
    session.commit()
    return kept
