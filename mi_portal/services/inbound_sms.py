"""A patient's text message: a keyword changes their SMS consent, anything else joins the thread.

The clinic is the one whose SMS number (``Tenant.settings["sms_number"]``) the patient wrote
to. Clinics without a number of their own text from the platform's number; a message to it goes
to the clinic that texted that phone last, and STOP/START there applies in every such clinic
that knows the phone (carriers treat an opt-out per sending number). The
patient is found in that clinic by phone number, compared in E.164 whatever format it was
typed in; a person who sent several consultations is several patients, and a keyword applies
to each of them. STOP and its synonyms opt out at once; START opts back in; HELP answers with
the clinic's name and contact. A change is acknowledged once, through the outbox; a repeated
keyword changes nothing and is not acknowledged again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mi_portal.config import get_settings
from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import (
    ConsentKind,
    MessageChannel,
    OutboxKind,
    OutboxMessage,
    Patient,
    Submission,
    Tenant,
)
from mi_portal.services import audit, consent, messaging, outbox
from mi_portal.services.phones import InvalidPhone, to_e164

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP"})
HELP_WORDS = frozenset({"HELP"})

STORED, DUPLICATE, IGNORED = "stored", "duplicate", "ignored"
OPTED_OUT, OPTED_IN, HELPED, UNCHANGED = "opted_out", "opted_in", "help", "unchanged"


@dataclass(frozen=True)
class Clinic:
    id: uuid.UUID
    name: str
    contact: str


@dataclass(frozen=True)
class SmsResult:
    outcome: str
    tenant_id: uuid.UUID | None = None


def _e164(value: object) -> str | None:
    try:
        return to_e164(value)
    except InvalidPhone:
        return None


def clinic_for_number(number: object) -> Clinic | None:
    """The active clinic whose own SMS number this is (the platform default is nobody's)."""
    wanted = _e164(number)
    if wanted is None or wanted == _e164(get_settings().sms_from):
        return None
    with platform_session() as session:
        for tenant in session.exec(select(Tenant).where(Tenant.active).order_by(Tenant.name)):
            own = (tenant.settings or {}).get("sms_number")
            if own and _e164(own) == wanted:
                contact = str((tenant.settings or {}).get("contact_email") or "")
                return Clinic(tenant.id, tenant.name, contact)
    return None


def patients_with_phone(session: ScopedSession, phone: str) -> list[uuid.UUID]:
    """The clinic's patients whose phone, however it was typed, is ``phone`` (E.164)."""
    rows = session.exec(
        select(Patient.id, Patient.phone).where(col(Patient.phone).is_not(None))
    ).all()
    return [pid for pid, typed in rows if _e164(typed) == phone]


def change_sms_consent(
    session: ScopedSession,
    patient_ids: list[uuid.UUID],
    granted: bool,
    *,
    source: str,
    ip: str | None = None,
    user_agent: str | None = None,
) -> list[uuid.UUID]:
    """A new ledger row for each patient whose current SMS consent differs (caller commits)."""
    changed = []
    for pid in patient_ids:
        if consent.current(session, pid, ConsentKind.SMS_OPT_IN) != granted:
            consent.record(
                session,
                pid,
                ConsentKind.SMS_OPT_IN,
                granted,
                source=source,
                ip=ip,
                user_agent=(user_agent or "")[:400] or None,
            )
            changed.append(pid)
    return changed


def audit_consent(
    session: ScopedSession,
    tenant_id: uuid.UUID,
    changed: list[uuid.UUID],
    granted: bool,
    *,
    source: str,
    ip: str | None,
) -> None:
    """Record the changes in the transaction that makes them (the caller commits next)."""
    for pid in changed:
        audit.record_in(
            session,
            "consent.changed",
            tenant_id=tenant_id,
            target_type="patient",
            target_id=pid,
            ip=ip,
            details={"kind": ConsentKind.SMS_OPT_IN.value, "granted": granted, "source": source},
        )


def _answer(session: ScopedSession, to: str, body: str) -> None:
    outbox.enqueue(
        session, channel=MessageChannel.SMS.value, recipient=to, body=body,
        kind=OutboxKind.AUTO_REPLY,
    )  # fmt: skip


def help_text(clinic: Clinic) -> str:
    contact = f" Contact: {clinic.contact}." if clinic.contact else ""
    return f"{clinic.name}.{contact} Reply STOP to stop text messages, START to receive them again."


def _keyword(
    clinic: Clinic, sender: str, word: str, ip: str | None, *, answer: bool = True
) -> SmsResult:
    with tenant_session(clinic.id) as session:
        patients = patients_with_phone(session, sender)
        if word in HELP_WORDS:
            _answer(session, sender, help_text(clinic))
            session.commit()
            return SmsResult(HELPED, clinic.id)
        granted = word in START_WORDS
        changed = change_sms_consent(session, patients, granted, source="sms_keyword")
        if changed and answer:
            # Allowed although the patient has just opted out: the one confirmation carriers
            # require, sent once per change.
            _answer(
                session,
                sender,
                f"{clinic.name}: text messages are on again. Reply STOP to stop them."
                if granted
                else f"{clinic.name}: you will get no more text messages from us. "
                "Reply START to receive them again.",
            )
        audit_consent(session, clinic.id, changed, granted, source="sms_keyword", ip=ip)
        session.commit()
    if not changed:
        return SmsResult(UNCHANGED if patients else IGNORED, clinic.id)
    return SmsResult(OPTED_IN if granted else OPTED_OUT, clinic.id)


def shared_number_clinics(phone: str) -> list[Clinic]:
    """Clinics that text from the platform's number and know this phone, the one that texted
    it last first. Each is asked in its own session: no clinic's data is read for another."""
    with platform_session() as session:
        tenants = [
            t
            for t in session.exec(select(Tenant).where(Tenant.active).order_by(Tenant.name))
            if not (t.settings or {}).get("sms_number")
        ]
    found: list[tuple[datetime, Clinic]] = []
    for tenant in tenants:
        with tenant_session(tenant.id) as session:
            if not patients_with_phone(session, phone):
                continue
            last = session.exec(
                select(func.max(OutboxMessage.created_at)).where(
                    OutboxMessage.channel == MessageChannel.SMS.value,
                    OutboxMessage.recipient == phone,
                )
            ).one()
        contact = str((tenant.settings or {}).get("contact_email") or "")
        found.append(
            (last or datetime.min.replace(tzinfo=UTC), Clinic(tenant.id, tenant.name, contact))
        )
    return [clinic for _, clinic in sorted(found, key=lambda pair: pair[0], reverse=True)]


def _shared_keyword(clinics: list[Clinic], phone: str, word: str, ip: str | None) -> SmsResult:
    """STOP or START to the shared number applies in every clinic texting from it (carriers
    treat an opt-out per sending number); it is acknowledged once. HELP names the last one."""
    if word in HELP_WORDS:
        return _keyword(clinics[0], phone, word, ip)
    results = []
    answered = False
    for clinic in clinics:
        result = _keyword(clinic, phone, word, ip, answer=not answered)
        answered = answered or result.outcome in (OPTED_IN, OPTED_OUT)
        results.append(result)
    changed = [r for r in results if r.outcome in (OPTED_IN, OPTED_OUT)]
    return changed[0] if changed else results[0]


def receive_sms(
    *, sender: object, to: object, body: object, sid: object, ip: str | None = None
) -> SmsResult:
    """Apply one inbound text message (see the module's description)."""
    phone = _e164(sender)
    if phone is None:
        return SmsResult(IGNORED)
    text = str(body or "")
    word = text.strip().upper()
    clinic = clinic_for_number(to)
    if clinic is None:
        # The platform's shared number: the clinics texting from it that know this phone.
        if _e164(to) != _e164(get_settings().sms_from):
            return SmsResult(IGNORED)
        shared = shared_number_clinics(phone)
        if not shared:
            return SmsResult(IGNORED)
        if word in STOP_WORDS | START_WORDS | HELP_WORDS:
            return _shared_keyword(shared, phone, word, ip)
        clinic = shared[0]  # an answer goes to the clinic that texted this phone last
    elif word in STOP_WORDS | START_WORDS | HELP_WORDS:
        return _keyword(clinic, phone, word, ip)
    external_id = str(sid or "").strip()[:300] or None
    try:
        with tenant_session(clinic.id) as session:
            patients = patients_with_phone(session, phone)
            if not patients:
                return SmsResult(IGNORED, clinic.id)
            case = session.exec(
                select(Submission)
                .where(col(Submission.patient_id).in_(patients))
                .order_by(col(Submission.received_at).desc())
                .limit(1)
            ).first()
            if case is None:
                return SmsResult(IGNORED, clinic.id)
            thread = messaging.thread_for_case(session, case)
            stored = messaging.append_inbound(
                session, thread, channel=MessageChannel.SMS.value, body=text,
                external_id=external_id,
            )  # fmt: skip
            if stored is None or not stored.body:
                session.rollback()
                return SmsResult(DUPLICATE if stored is None else IGNORED, clinic.id)
            messaging.record_received(session, thread, stored, ip=ip)
            session.commit()
    except IntegrityError:  # the same message, stored by a concurrent post a moment earlier
        return SmsResult(DUPLICATE, clinic.id)
    return SmsResult(STORED, clinic.id)
