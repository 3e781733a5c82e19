"""Patient intake: validate, store photos (verified), then commit one case per chosen clinic.

A case is reported successful only after the database commit references objects whose
checksums were verified after writing. On any failure nothing is left behind: rows already
committed for other chosen clinics are removed and every written object is deleted (objects a
failing store cannot delete are found later by ``mi-portal storage check``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import (
    ConsentKind,
    ConsentRecord,
    ImageRendition,
    OutboxMessage,
    OutboxStatus,
    Patient,
    Submission,
    SubmissionImage,
    SubmissionSource,
    Tenant,
    uuid7,
)
from mi_portal.services import audit, business_time, clock, notifications, rights_locator
from mi_portal.services.images import ProcessedImage, Rendition
from mi_portal.services.inbox import reference
from mi_portal.services.intake_questions import (
    BUILT_IN,
    CONCERN_AREAS,
    AskedQuestion,
    answers_to_store,
    for_clinic_form,
)
from mi_portal.services.phones import InvalidPhone, to_e164
from mi_portal.services.policy import CONSENT_TEXT_VERSION, MIN_AGE, consent_text_sha256
from mi_portal.services.text import clean_email, clean_text
from mi_portal.storage import BlobStore, get_store

log = logging.getLogger(__name__)

MAX_CLINICS = 5
MAX_PHOTOS = 6


class IntakeInvalid(ValueError):
    """What the patient typed needs correcting; ``errors`` maps field → message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class IntakeRefused(IntakeInvalid):
    """The patient may not use the service (under age): the form is dropped, nothing is kept."""


class IntakeFailed(RuntimeError):
    """Storage or database trouble: nothing was kept; the patient may try again."""


@dataclass
class IntakeForm:
    full_name: str = ""
    email: str = ""
    phone: str = ""
    date_of_birth: str = ""
    concern_area: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    privacy_ack: bool = False
    sms_opt_in: bool = False
    marketing_opt_in: bool = False


def age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


# Far above any field's limit: cleaning never hides an overlong value from the checks below.
_CLEANING_CAP = 4096


def clean_form(form: IntakeForm) -> IntakeForm:
    """The form with invisible characters removed from every typed field, email normalised."""

    def line(value: object) -> str:
        return clean_text(value, max_length=_CLEANING_CAP, trim=True)

    email = line(form.email)
    with contextlib.suppress(ValueError):  # validate() reports it
        email = clean_email(email)
    answers = form.answers if isinstance(form.answers, dict) else {}
    return replace(
        form,
        full_name=line(form.full_name),
        email=email,
        phone=line(form.phone),
        date_of_birth=line(form.date_of_birth),
        concern_area=line(form.concern_area),
        answers={
            str(k): clean_text(v, max_length=_CLEANING_CAP, multiline=True, trim=True)
            for k, v in answers.items()
        },
    )


def validate(
    form: IntakeForm,
    *,
    photo_count: int,
    today: date | None = None,
    questions: Sequence[AskedQuestion] | None = None,
) -> tuple[date, dict[str, dict[str, str]]]:
    """Check the form; returns the date of birth and the answers as stored (each with its
    question's text). ``questions``: what the form asked (default the standard questions).
    Raises ``IntakeInvalid`` with per-field messages."""
    today = today or clock.now().date()
    form = clean_form(form)
    errors: dict[str, str] = {}
    if not form.full_name:
        errors["full_name"] = "Enter your name."
    elif len(form.full_name) > 200:
        errors["full_name"] = "Use at most 200 characters."
    try:
        clean_email(form.email)
    except ValueError:
        errors["email"] = "Enter an email address like name@example.com."
    if form.phone.strip():
        try:
            to_e164(form.phone)
        except InvalidPhone as exc:
            errors["phone"] = str(exc)
    if form.sms_opt_in and not form.phone.strip():
        errors["phone"] = "Enter a phone number to receive text messages."
    born = date.min
    try:
        born = date.fromisoformat(form.date_of_birth.strip())
        if born > today or born.year < 1900:
            raise ValueError
    except ValueError:
        errors["date_of_birth"] = "Enter your date of birth."
    else:
        if age_on(born, today) < MIN_AGE:
            # Refused whatever else is wrong: nothing of this form is kept or sent anywhere.
            raise IntakeRefused(
                {
                    "date_of_birth": f"Sorry, you must be at least {MIN_AGE} to use this "
                    "service. Nothing has been sent or stored."
                }
            )
    if form.concern_area not in CONCERN_AREAS:
        errors["concern_area"] = "Choose what the photos are about."
    answers, unanswered = answers_to_store(
        BUILT_IN if questions is None else questions, form.answers
    )
    errors.update(unanswered)
    if not form.privacy_ack:
        errors["privacy_ack"] = "Please confirm you have read the privacy policy."
    if photo_count < 1:
        errors["photos"] = "Add at least one photo."
    elif photo_count > MAX_PHOTOS:
        errors["photos"] = f"Add at most {MAX_PHOTOS} photos."
    if errors:
        raise IntakeInvalid(errors)
    return born, answers


@dataclass(frozen=True)
class Receipt:
    clinic_name: str
    reference: str


def public_clinics() -> list[tuple[str, str]]:
    """(slug, name) of every active clinic, for the public directory."""
    with platform_session() as session:
        return [
            (t.slug, t.name)
            for t in session.exec(select(Tenant).where(Tenant.active).order_by(Tenant.name))
        ]


def closed_clinic(slug: str) -> str | None:
    """The name of a clinic that exists but takes no submissions now (suspended or closed)."""
    with platform_session() as session:
        tenant = session.exec(select(Tenant).where(Tenant.slug == slug[:63])).first()
    return tenant.name if tenant is not None and not tenant.active else None


def _tenants(slugs: list[str]) -> list[Tenant]:
    wanted = list(dict.fromkeys(s for s in slugs if isinstance(s, str)))
    if not wanted:
        raise IntakeInvalid({"clinics": "Choose at least one clinic."})
    if len(wanted) > MAX_CLINICS:
        raise IntakeInvalid({"clinics": f"Choose at most {MAX_CLINICS} clinics."})
    with platform_session() as session:
        tenants = list(session.exec(select(Tenant).where(col(Tenant.slug).in_(wanted))))
    closed = [t.name for t in tenants if not t.active]
    if closed:
        raise IntakeInvalid({"clinics": f"{closed[0]} is not taking submissions right now."})
    if len(tenants) != len(wanted):
        raise IntakeInvalid({"clinics": "One of the chosen clinics is not available."})
    return sorted(tenants, key=lambda t: wanted.index(t.slug))


def _write_verified(store: BlobStore, key: str, data: bytes) -> None:
    store.put(key, data, content_type="image/jpeg")
    if hashlib.sha256(store.get(key)).hexdigest() != hashlib.sha256(data).hexdigest():
        raise IntakeFailed("stored object does not match what was written")


def object_key(tenant_id: uuid.UUID, kind: str) -> str:
    """An unguessable storage key for one rendition, under the clinic's prefix."""
    return f"{tenant_id}/{uuid.uuid4().hex}/{kind}.jpg"


def add_photo_rows(
    session: Any,
    submission_id: uuid.UUID,
    position: int,
    photo: ProcessedImage,
    stored: list[tuple[str, Rendition]],
) -> uuid.UUID:
    """The image row of one processed photo and a row per stored rendition (key, rendition)."""
    original = photo.original
    image = SubmissionImage(
        id=uuid7(),
        submission_id=submission_id,
        position=position,
        display_name=photo.display_name,
        content_type=original.content_type,
        width=original.width,
        height=original.height,
        byte_size=len(original.data),
        sha256=original.sha256,
    )
    session.add(image)
    session.flush()  # the image before its renditions: there are no ORM relationships
    for key, rendition in stored:
        session.add(
            ImageRendition(
                image_id=image.id,
                kind=rendition.kind,
                storage_key=key,
                content_type=rendition.content_type,
                width=rendition.width,
                height=rendition.height,
                byte_size=len(rendition.data),
                sha256=rendition.sha256,
            )
        )
    return image.id


def case_source(source: str) -> str:
    """The case's ``SubmissionSource`` from the form's consent source: "directory" is the
    multi-clinic form; "clinic_page:<slug>" (and anything else) a clinic's own page."""
    if source == SubmissionSource.DIRECTORY.value:
        return SubmissionSource.DIRECTORY.value
    return SubmissionSource.CLINIC_PAGE.value


def submit(
    *,
    clinic_slugs: list[str],
    form: IntakeForm,
    photos: list[ProcessedImage],
    ip: str | None,
    user_agent: str | None,
    source: str,
    store: BlobStore | None = None,
    own_questions: bool = False,
    sending_key: str | None = None,
) -> list[Receipt]:
    """Create one independent case per chosen clinic, or nothing at all.

    ``own_questions``: the form was one clinic's own page, which asks that clinic's questions
    (the multi-clinic form asks the standard ones).

    ``sending_key``: the random key the patient's tab holds for this sending of the form. A
    clinic that already has a case under it (the form was stored, then the answer was lost and
    the patient sent it again) is answered with that case's receipt; nothing is stored twice.
    """
    form = clean_form(form)
    questions = None
    if own_questions and len(clinic_slugs) == 1:
        questions = for_clinic_form(clinic_slugs[0], form.concern_area)
    born, answers = validate(form, photo_count=len(photos), questions=questions)
    tenants = _tenants(clinic_slugs)
    store = store or get_store()
    written: list[str] = []
    committed: list[_Stored] = []
    receipts: list[Receipt] = []
    key_digest = hashlib.sha256(sending_key.encode()).hexdigest() if sending_key else None
    try:
        for tenant in tenants:
            stored = _already_stored(tenant.id, key_digest)
            if stored is not None:
                receipts.append(Receipt(tenant.name, reference(stored)))
                continue
            # Each clinic gets its own patient, case, image rows and stored objects: no shared id.
            keys: list[list[tuple[str, Rendition]]] = []
            for photo in photos:
                photo_keys = []
                for rendition in photo.renditions:
                    key = object_key(tenant.id, rendition.kind)
                    written.append(key)
                    _write_verified(store, key, rendition.data)
                    photo_keys.append((key, rendition))
                keys.append(photo_keys)
            now = clock.now()
            with tenant_session(tenant.id) as session:
                patient = Patient(
                    id=uuid7(),
                    full_name=form.full_name.strip(),
                    email=form.email.strip().lower(),
                    # One stored form (E.164), so replies by SMS find the patient.
                    phone=to_e164(form.phone) if form.phone.strip() else None,
                    date_of_birth=born,
                )
                session.add(patient)
                session.flush()
                # The platform finds this clinic for a verified rights request by these digests.
                rights_locator.record_patient(session, patient)
                # Both targets count the clinic's business hours, not the wall clock.
                first_due, quote_due = business_time.due_times(
                    now,
                    business_time.calendar_for(tenant),
                    tenant.first_response_hours,
                    tenant.quote_turnaround_hours,
                )
                submission = Submission(
                    id=uuid7(),
                    patient_id=patient.id,
                    concern_area=form.concern_area,
                    answers=answers,
                    received_at=now,
                    last_activity_at=now,
                    sla_due_at=quote_due,
                    first_response_due_at=first_due,
                    source=case_source(source),
                    source_ip=ip,
                    user_agent=(user_agent or "")[:400] or None,
                    intake_key=key_digest,
                )
                session.add(submission)
                session.flush()
                for kind, granted in (
                    (ConsentKind.PRIVACY_ACK, form.privacy_ack),
                    (ConsentKind.SMS_OPT_IN, form.sms_opt_in),
                    (ConsentKind.MARKETING_OPT_IN, form.marketing_opt_in),
                ):
                    session.add(
                        ConsentRecord(
                            patient_id=patient.id,
                            kind=kind.value,
                            granted=bool(granted),
                            text_version=CONSENT_TEXT_VERSION,
                            text_sha256=consent_text_sha256(kind.value),
                            source=source,
                            ip=ip,
                            user_agent=(user_agent or "")[:400] or None,
                            recorded_at=now,
                        )
                    )
                for position, (photo, photo_keys) in enumerate(zip(photos, keys, strict=True)):
                    add_photo_rows(session, submission.id, position, photo, photo_keys)
                # Staff hear of the case in the same transaction that stores it.
                notices = notifications.notify_new_case(session, submission, tenant.name)
                # So is its intake recorded: a case is never stored without its audit event.
                audit.record_in(
                    session,
                    "intake.submitted",
                    tenant_id=tenant.id,
                    target_type="submission",
                    target_id=submission.id,
                    ip=ip,
                    user_agent=user_agent,
                    details={"photos": len(photos), "source": source},
                )
                session.commit()
                committed.append(_Stored(tenant.id, patient.id, submission.id, notices))
                receipts.append(Receipt(tenant.name, reference(submission.id)))
    except Exception as exc:
        _undo(committed, written, store)
        if isinstance(exc, IntakeInvalid):
            raise
        log.warning("intake failed and was rolled back: %s", type(exc).__name__, exc_info=True)
        raise IntakeFailed(
            "Your photos could not be saved. Nothing was kept; please try again in a few minutes."
        ) from exc
    return receipts


def _already_stored(tenant_id: uuid.UUID, key_digest: str | None) -> uuid.UUID | None:
    """The clinic's case stored under this sending of the form, if there is one."""
    if key_digest is None:
        return None
    with tenant_session(tenant_id) as session:
        return session.exec(
            select(Submission.id).where(Submission.intake_key == key_digest)
        ).first()


@dataclass(frozen=True)
class _Stored:
    """A clinic's case committed by this sending (removed again if a later clinic fails)."""

    tenant_id: uuid.UUID
    patient_id: uuid.UUID
    submission_id: uuid.UUID
    notices: list[uuid.UUID]  # the staff's "new case" notices queued with it


def _remove(session: ScopedSession, stored: _Stored) -> None:
    image_ids = list(
        session.exec(
            select(SubmissionImage.id).where(SubmissionImage.submission_id == stored.submission_id)
        )
    )
    session.execute(delete(ImageRendition).where(col(ImageRendition.image_id).in_(image_ids)))
    session.execute(
        delete(SubmissionImage).where(col(SubmissionImage.submission_id) == stored.submission_id)
    )
    session.execute(delete(Submission).where(col(Submission.id) == stored.submission_id))
    session.execute(delete(ConsentRecord).where(col(ConsentRecord.patient_id) == stored.patient_id))
    session.execute(delete(Patient).where(col(Patient.id) == stored.patient_id))
    # Staff are not told of a case that is gone (a notice already on its way cannot be held).
    session.execute(
        delete(OutboxMessage).where(
            col(OutboxMessage.id).in_(stored.notices),
            col(OutboxMessage.status) == OutboxStatus.PENDING.value,
        )
    )


def _undo(committed: list[_Stored], written: list[str], store: BlobStore) -> None:
    for stored in committed:
        # The chain keeps the intake it recorded with the case, and then its removal. If that
        # cannot be recorded, the case is removed all the same: the patient is told nothing
        # was kept.
        for recorded in (True, False):
            try:
                with tenant_session(stored.tenant_id) as session:
                    _remove(session, stored)
                    if recorded:
                        audit.record_in(
                            session,
                            "intake.rolled_back",
                            tenant_id=stored.tenant_id,
                            target_type="submission",
                            target_id=stored.submission_id,
                            details={"reason": "another clinic of the form could not store it"},
                        )
                    session.commit()
                break
            except Exception as exc:
                log.warning(
                    "%s a half-made case in %s: %s",
                    "could not record the removal of" if recorded else "could not remove",
                    stored.tenant_id,
                    type(exc).__name__,
                )
    for key in written:
        try:
            store.delete(key)
        except Exception:
            log.warning("could not delete object %s; `mi-portal storage check` will find it", key)
