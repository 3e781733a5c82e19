"""A clinic's side of privacy-rights requests: the requests forwarded to it, its own matching
patients, and its answers (start, correct, opt out, limit, deny, finish).

Everything here runs in the acting clinic's own session: a clinic sees only its own forwards and
patients, and nothing it reads or sends mentions another clinic. Each answer is mirrored to the
platform's request through ``rights.record_clinic_answer``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import col, select

from mi_portal.config import get_settings
from mi_portal.db import ScopedSession, serialize_on, tenant_session
from mi_portal.models import (
    ConsentKind,
    ForwardStatus,
    MessageChannel,
    OutboxKind,
    RightsRequestForward,
    RightsRequestKind,
    Submission,
    Tenant,
)
from mi_portal.services import (
    audit,
    clock,
    outbox,
    rights_access,
    rights_deadlines,
    rights_erase,
    rights_locator,
)
from mi_portal.services import consent as consents
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.permissions import Permission, check
from mi_portal.services.phones import to_e164
from mi_portal.services.policy import CONSENT_TEXT_VERSION, consent_text_sha256
from mi_portal.services.rights_access import LINK_DAYS, matching_patients
from mi_portal.services.rights_common import KIND_LABELS, RightsProblem, clean_reason
from mi_portal.services.text import TextTooLong, clean_email, clean_text

F = ForwardStatus
OPEN = (F.FORWARDED.value, F.IN_PROGRESS.value)
DONE = (F.COMPLETED.value, F.DENIED.value)
CORRECTABLE = ("full_name", "email", "phone", "date_of_birth")
FIELD_LABELS = {
    "full_name": "Name",
    "email": "Email",
    "phone": "Phone",
    "date_of_birth": "Date of birth",
}
STATUS_LABELS = {
    F.FORWARDED.value: "New",
    F.IN_PROGRESS.value: "In progress",
    F.COMPLETED.value: "Completed",
    F.DENIED.value: "Denied",
}


@dataclass(frozen=True)
class ForwardRow:
    id: str
    reference: str
    kind: str
    kind_label: str
    received: str
    due_on: str
    status: str
    status_label: str
    tone: str
    badge: str  # "3 days left", "Overdue by 2 days", or the closed status


@dataclass(frozen=True)
class CaseLine:
    id: str
    label: str
    status: str


@dataclass(frozen=True)
class PatientMatch:
    id: str
    full_name: str
    email: str
    phone: str
    date_of_birth: str
    cases: list[CaseLine] = field(default_factory=list)


@dataclass(frozen=True)
class ForwardDetail:
    row: ForwardRow
    requester_name: str
    requester_email: str
    requester_phone: str
    details: str
    by_agent: bool
    agent_name: str
    agent_email: str
    jurisdiction: str
    patients: list[PatientMatch]
    response_note: str
    responded_at: str
    result: dict[str, Any]
    is_open: bool
    package_ready: bool  # an access package was prepared (and can be sent)
    link_sent: bool


def _row(forward: RightsRequestForward, today: date) -> ForwardRow:
    if forward.status in DONE:
        tone, badge = "ok", STATUS_LABELS.get(forward.status, forward.status)
    else:
        tone, badge = rights_deadlines.badge(forward.due_on, today)
    return ForwardRow(
        id=str(forward.id),
        reference=forward.reference,
        kind=forward.kind,
        kind_label=KIND_LABELS.get(forward.kind, forward.kind),
        received=forward.received_at.date().isoformat() if forward.received_at else "",
        due_on=forward.due_on.isoformat() if forward.due_on else "",
        status=forward.status,
        status_label=STATUS_LABELS.get(forward.status, forward.status),
        tone=tone,
        badge=badge,
    )


def forwarded_list(actor: Actor, status: str = "open") -> list[ForwardRow]:
    """The requests forwarded to the actor's clinic, deadline first."""
    check(actor, Permission.RIGHTS_ANSWER)
    query = select(RightsRequestForward)
    if status == "open":
        query = query.where(col(RightsRequestForward.status).in_(OPEN))
    elif status == "closed":
        query = query.where(col(RightsRequestForward.status).in_(DONE))
    elif status != "all":
        raise ValueError("Unknown status filter.")
    query = query.order_by(
        col(RightsRequestForward.due_on).asc().nulls_last(),
        col(RightsRequestForward.forwarded_at).asc(),
    ).limit(500)
    today = clock.now().date()
    with tenant_session(actor.require_tenant()) as session:
        return [_row(f, today) for f in session.exec(query).all()]


def _forward(session: ScopedSession, actor: Actor, forward_id: object, *,
             lock: bool = False) -> RightsRequestForward:  # fmt: skip
    tenant_id = actor.require_tenant()
    wanted = parse_id(forward_id, "forwarded request")
    if lock:
        serialize_on(session, f"rights-forward:{wanted}")
        found = session.exec(
            select(RightsRequestForward).where(RightsRequestForward.id == wanted).with_for_update()
        ).first()
    else:
        found = session.get(RightsRequestForward, (tenant_id, wanted))
    if found is None:
        raise NotFound("forwarded request")  # another clinic's answers like a missing one
    return found


def _open(forward: RightsRequestForward) -> None:
    if forward.status not in OPEN:
        raise ValueError("This request has been answered already.")


def forward_detail(actor: Actor, forward_id: object) -> ForwardDetail:
    """One forwarded request with the clinic's own matching patients and their cases."""
    check(actor, Permission.RIGHTS_ANSWER)
    with tenant_session(actor.require_tenant()) as session:
        forward = _forward(session, actor, forward_id)
        patients = matching_patients(session, forward)
        cases: dict[uuid.UUID, list[CaseLine]] = {p.id: [] for p in patients}
        if patients:
            for case in session.exec(
                select(Submission)
                .where(col(Submission.patient_id).in_(list(cases)))
                .order_by(col(Submission.received_at))
            ):
                area = case.concern_area.replace("_", " ")
                cases[case.patient_id].append(
                    CaseLine(
                        id=str(case.id),
                        label=f"{area.capitalize()}, received {case.received_at.date()}",
                        status=case.status.replace("_", " "),
                    )
                )
        matches = [
            PatientMatch(
                id=str(p.id),
                full_name=p.full_name,
                email=p.email,
                phone=p.phone or "",
                date_of_birth=p.date_of_birth.isoformat() if p.date_of_birth else "",
                cases=cases[p.id],
            )
            for p in patients
        ]
    return ForwardDetail(
        row=_row(forward, clock.now().date()),
        requester_name=forward.requester_name,
        requester_email=forward.requester_email,
        requester_phone=forward.requester_phone or "",
        details=forward.details,
        by_agent=forward.by_agent,
        agent_name=forward.agent_name,
        agent_email=forward.agent_email,
        jurisdiction=forward.jurisdiction,
        patients=matches,
        response_note=forward.response_note,
        responded_at=forward.responded_at.strftime("%Y-%m-%d %H:%M")
        if forward.responded_at
        else "",
        result=dict(forward.result),
        is_open=forward.status in OPEN,
        package_ready=forward.package_key is not None,
        link_sent=forward.link_digest is not None,
    )


def start(actor: Actor, forward_id: object) -> None:
    """Mark the request as being worked on (shown on the platform's list too)."""
    check(actor, Permission.RIGHTS_ANSWER)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        forward = _forward(session, actor, forward_id, lock=True)
        if forward.status != F.FORWARDED:
            return  # started already, or answered: nothing to do
        forward.status = F.IN_PROGRESS.value
        forward.started_at, forward.started_by_id = clock.now(), actor.user_id
        session.add(forward)
        session.commit()
        found, request_id = forward.id, forward.rights_request_id
    audit.record(actor, "rights.started", target_type="rightsrequestforward", target_id=found)
    from mi_portal.services.rights import record_clinic_answer

    record_clinic_answer(request_id, tenant_id, F.IN_PROGRESS.value, actor=actor)


def _clean_changes(changes: dict[str, object]) -> dict[str, Any]:
    if not isinstance(changes, dict) or not changes:
        raise ValueError("Give at least one field to correct.")
    unknown = set(changes) - set(CORRECTABLE)
    if unknown:
        raise ValueError("Only the name, email, phone and date of birth can be corrected here.")
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        label = FIELD_LABELS[name]
        if name == "full_name":
            try:
                text = clean_text(value, max_length=200)
            except TextTooLong:
                raise ValueError(f"{label}: use at most 200 characters.") from None
            if not text:
                raise ValueError(f"{label}: enter the name.")
            clean[name] = text
        elif name == "email":
            clean[name] = clean_email(value)
        elif name == "phone":
            clean[name] = to_e164(value) if str(value or "").strip() else None
        else:
            try:
                born = date.fromisoformat(str(value or "").strip())
            except ValueError:
                raise ValueError(f"{label}: use the form YYYY-MM-DD.") from None
            if born > clock.now().date() or born.year < 1900:
                raise ValueError(f"{label}: this date is not possible.")
            clean[name] = born
    return clean


def correct(
    actor: Actor, forward_id: object, patient_id: object, changes: dict[str, object]
) -> list[str]:
    """Correct a matching patient's named fields; returns the fields that changed (audited with
    their old and new values)."""
    check(actor, Permission.RIGHTS_ANSWER)
    tenant_id = actor.require_tenant()
    clean = _clean_changes(changes)
    with tenant_session(tenant_id) as session:
        forward = _forward(session, actor, forward_id, lock=True)
        _open(forward)
        if forward.kind != RightsRequestKind.CORRECTION:
            raise ValueError("This request does not ask for a correction.")
        wanted = parse_id(patient_id, "patient")
        patient = next((p for p in matching_patients(session, forward) if p.id == wanted), None)
        if patient is None:
            raise NotFound("patient")
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        for name, value in clean.items():
            before = getattr(patient, name)
            if before != value:
                old[name], new[name] = _plain(before), _plain(value)
                setattr(patient, name, value)
        if not new:
            return []
        found_patient = patient.id
        session.add(patient)
        rights_locator.record_patient(session, patient)
        ids = list(dict.fromkeys([*forward.result.get("patient_ids", []), str(patient.id)]))
        fields = sorted({*forward.result.get("corrected", []), *new})
        forward.result = {**forward.result, "patient_ids": ids, "corrected": fields}
        if forward.status == F.FORWARDED:
            forward.status = F.IN_PROGRESS.value
            forward.started_at, forward.started_by_id = clock.now(), actor.user_id
        session.add(forward)
        session.commit()
        found = forward.id
    audit.record(
        actor, "rights.corrected", target_type="patient", target_id=found_patient,
        details={"forward": str(found), "old": old, "new": new},
    )  # fmt: skip
    return sorted(new)


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def _consents(actor: Actor, forward_id: object, kind: ConsentKind, verb: str) -> int:
    check(actor, Permission.RIGHTS_ANSWER)
    tenant_id = actor.require_tenant()
    want = (
        RightsRequestKind.OPT_OUT
        if kind == ConsentKind.SALE_SHARING_OPT_OUT
        else (RightsRequestKind.LIMIT)
    )
    with tenant_session(tenant_id) as session:
        forward = _forward(session, actor, forward_id)
        _open(forward)
        if forward.kind != want:
            raise ValueError("This request asks for something else.")
        patients = matching_patients(session, forward)
        for patient in patients:
            for what, granted in ((kind, True), (ConsentKind.MARKETING_OPT_IN, False)):
                row = consents.record(
                    session, patient.id, what, granted, source="rights_request",
                    text_version=CONSENT_TEXT_VERSION,
                )  # fmt: skip
                row.text_sha256 = consent_text_sha256(what.value)
        session.commit()
    n = len(patients)
    note = (
        f"We have recorded your request: we will not {verb}, and you will receive no marketing "
        "from us."
        if n
        else "We looked for your data under the contact details you gave and hold none."
    )
    finish(
        actor, forward_id, status=F.COMPLETED.value, note=note,
        result={"consents": [kind.value, f"{ConsentKind.MARKETING_OPT_IN.value}=false"],
                "patients": n},
    )  # fmt: skip
    return n


def opt_out(actor: Actor, forward_id: object) -> int:
    """Record the opt-out of sale/sharing (and of marketing) for each matching patient."""
    return _consents(actor, forward_id, ConsentKind.SALE_SHARING_OPT_OUT, "sell or share your data")


def limit(actor: Actor, forward_id: object) -> int:
    """Record the limit on sensitive data (and stop marketing) for each matching patient."""
    return _consents(
        actor, forward_id, ConsentKind.LIMIT_SENSITIVE,
        "use your sensitive data beyond what your care needs",
    )  # fmt: skip


def deny_forward(actor: Actor, forward_id: object, reason: object) -> None:
    """Decline the request with a reason the requester sees."""
    try:
        text = clean_reason(reason)
    except RightsProblem as problem:
        raise ValueError(str(problem)) from None
    finish(actor, forward_id, status=F.DENIED.value, note=text, result={"denied": True})


def finish(
    actor: Actor,
    forward_id: object,
    *,
    status: str,
    note: str,
    result: dict[str, Any],
    link: str | None = None,
) -> None:
    """Close the clinic's answer: store it, tell the requester from the clinic, audit it, and
    mirror it to the platform's request.

    ``link`` (an access package's single-use download) goes in the patient's own email only:
    never to an agent, and never stored beside the answer.
    """
    check(actor, Permission.RIGHTS_ANSWER)
    tenant_id = actor.require_tenant()
    if status not in DONE:
        raise ValueError("An answer is completed or denied.")
    try:
        text = clean_text(note, max_length=4000, multiline=True)
    except TextTooLong:
        raise ValueError("Keep the note under 4,000 characters.") from None
    with tenant_session(tenant_id) as session:
        forward = _forward(session, actor, forward_id, lock=True)
        _open(forward)
        forward.status = status
        forward.responded_at, forward.responded_by_id = clock.now(), actor.user_id
        forward.response_note = text
        forward.result = {**forward.result, **result}
        session.add(forward)
        clinic = session.get(Tenant, tenant_id)
        name = clinic.name if clinic else "The clinic"
        done = (
            "has completed your request" if status == F.COMPLETED else "cannot act on your request"
        )
        body = f"Hello,\n\n{name} {done}.\n\n{text}\n\nReference: {forward.reference}\n"
        for recipient in _recipients(forward):
            own = recipient == forward.requester_email
            download = (
                f"\nDownload your copy (the link works once, for {LINK_DAYS} days):\n{link}\n"
                if link and own
                else ""
            )
            outbox.enqueue(
                session, channel=MessageChannel.EMAIL.value, recipient=recipient,
                body=body + download, subject=f"Your privacy request {forward.reference}",
                kind=OutboxKind.RIGHTS_NOTICE,
            )  # fmt: skip
        session.commit()
        found, request_id = forward.id, forward.rights_request_id
    audit.record(
        actor, "rights.answered", target_type="rightsrequestforward", target_id=found,
        details={"status": status, "note": text},
    )  # fmt: skip
    from mi_portal.services.rights import record_clinic_answer

    record_clinic_answer(request_id, tenant_id, status, actor=actor)


def _recipients(forward: RightsRequestForward) -> list[str]:
    found = [forward.requester_email]
    if forward.by_agent and forward.agent_email and forward.agent_email != forward.requester_email:
        found.append(forward.agent_email)
    return [r for r in found if r]


def send_access(actor: Actor, forward_id: object) -> None:
    """Answer an access request: a single-use link to the prepared package, emailed to the
    patient, and the answer closed."""
    path = rights_access.send_package(actor, forward_id)
    finish(
        actor, forward_id, status=F.COMPLETED.value,
        note=(
            "We have prepared a copy of the personal data we hold about you from the 12 months "
            "before your request, with a summary of where it came from, why we hold it and who "
            "receives it."
        ),
        result={"package_sent": True},
        link=f"{get_settings().frontend_origin.rstrip('/')}{path}",
    )  # fmt: skip


def erase(actor: Actor, forward_id: object) -> rights_erase.EraseResult:
    """Answer a deletion request through the retention purge, and close the answer. What must
    be kept is counted in the requester's note; the hold reasons are staff text, for the clinic
    only."""
    done = rights_erase.erase(actor, forward_id)
    if any(why == rights_erase.NOT_YET for _what, why in done.kept):
        return done  # not answered yet: the clinic runs the erasure again
    # One count per record kept (a case under two holds is one record).
    held = len(
        {what for what, why in done.kept
         if why.startswith("legal hold") or why == rights_erase.RECORD_KEPT}
    )  # fmt: skip
    note = (
        "We have erased the personal data we held about you."
        + (
            f" {held} record{'s' if held != 1 else ''} must be kept for now under a legal "
            "hold; we will erase them when it ends."
            if held
            else ""
        )
        + " Our security log keeps that each event happened, without your details, as the law "
        "requires."
    )
    finish(
        actor, forward_id, status=F.COMPLETED.value, note=note,
        result={"erased": True, "run_id": str(done.run_id) if done.run_id else None,
                "kept": held},
    )  # fmt: skip
    return done
