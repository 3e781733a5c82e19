"""Factories for test data; the default world has two clinics so there is always one to leak into."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import Patient, Quote, Submission, Tenant, utcnow, uuid7


@contextmanager
def owner_session() -> Iterator[ScopedSession]:
    """The database's owner, past row-level security: to check what the app wrote (or plant it)."""
    from mi_portal.config import get_settings
    from mi_portal.db import get_engine

    with platform_session(engine=get_engine(get_settings().admin_database_url)) as session:
        yield session


def make_tenant(slug: str, name: str | None = None) -> uuid.UUID:
    with platform_session() as session:
        tenant = Tenant(slug=slug, name=name or slug.title())
        session.add(tenant)
        session.commit()
        return tenant.id


def make_case(
    tenant_id: uuid.UUID, *, name: str = "Pat Example", status: str = "new"
) -> tuple[uuid.UUID, uuid.UUID]:
    """A patient with one submission in ``tenant_id``; returns (patient_id, submission_id)."""
    with tenant_session(tenant_id) as session:
        patient = Patient(id=uuid7(), full_name=name, email=f"{uuid.uuid4().hex[:8]}@example.org")
        session.add(patient)
        session.flush()
        submission = Submission(
            id=uuid7(),
            patient_id=patient.id,
            concern_area="acne",
            status=status,
            sla_due_at=utcnow() + timedelta(hours=48),
        )
        session.add(submission)
        session.commit()
        return patient.id, submission.id


def make_quote(
    tenant_id: uuid.UUID, submission_id: uuid.UUID, total: str = "100.00", status: str = "sent"
) -> uuid.UUID:
    """A bare quote row (no lines): for filters and isolation, not for the quote workflow."""
    with tenant_session(tenant_id) as session:
        quote = Quote(id=uuid7(), submission_id=submission_id, total=Decimal(total), status=status)
        session.add(quote)
        session.commit()
        return quote.id


@dataclass(frozen=True)
class World:
    a: uuid.UUID
    b: uuid.UUID
    a_patient: uuid.UUID
    a_submission: uuid.UUID
    b_patient: uuid.UUID
    b_submission: uuid.UUID


def two_clinics() -> World:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    a_patient, a_submission = make_case(a, name="Alice A")
    b_patient, b_submission = make_case(b, name="Bob B")
    return World(a, b, a_patient, a_submission, b_patient, b_submission)


def fill_tenant(tenant_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """One row in every tenant-owned table for ``tenant_id``; returns table name → row id."""
    from mi_portal.models import (
        Annotation,
        CaseNote,
        ConsentRecord,
        ImageRendition,
        IntakeQuestion,
        LegalHold,
        Message,
        MessageAttachment,
        MessageTemplate,
        MessageThread,
        NotificationPreference,
        OutboxMessage,
        PackageItem,
        PatientLocator,
        QuoteLine,
        RetentionItem,
        RetentionPolicy,
        RetentionRun,
        RightsRequest,
        RightsRequestForward,
        SubmissionImage,
        TaxClass,
        ThreadRead,
        TreatmentItem,
        TreatmentPackage,
        User,
    )

    with platform_session() as session:
        request = RightsRequest(kind="access", requester_name="R", requester_email="r@example.org")
        session.add(request)
        session.commit()
        request_id = request.id
        reader = User(email=f"reader-{uuid.uuid4().hex[:8]}@example.org", full_name="Reader")
        session.add(reader)
        session.commit()
        reader_id = reader.id
    patient_id, submission_id = make_case(tenant_id)
    quote_id = make_quote(tenant_id, submission_id)
    ids: dict[str, uuid.UUID] = {
        "patient": patient_id,
        "submission": submission_id,
        "quote": quote_id,
    }
    image_id, item_id, thread_id, message_id = uuid7(), uuid7(), uuid7(), uuid7()
    tax_id, package_id, run_id = uuid7(), uuid7(), uuid7()
    rows = [
        SubmissionImage(id=image_id, submission_id=submission_id, display_name="a.jpg", content_type="image/jpeg", width=1, height=1, byte_size=1, sha256="0" * 64),
        ImageRendition(image_id=image_id, kind="thumbnail", storage_key=f"{tenant_id}/{uuid.uuid4().hex}", content_type="image/jpeg", width=1, height=1, byte_size=1, sha256="0" * 64),
        CaseNote(submission_id=submission_id, body="note"),
        Annotation(image_id=image_id, kind="arrow", x1=0.1, y1=0.1, x2=0.5, y2=0.5),
        TaxClass(id=tax_id, name="Standard", rate=Decimal("20")),
        TreatmentItem(id=item_id, name="Peel", unit_price=Decimal("10.00"), tax_class_id=tax_id),
        TreatmentPackage(id=package_id, name="Course", price=Decimal("25.00"), tax_class_id=tax_id),
        PackageItem(package_id=package_id, treatment_item_id=item_id, quantity=3),
        QuoteLine(quote_id=quote_id, treatment_item_id=item_id, description="Peel", unit_price=Decimal("10.00")),
        MessageThread(id=thread_id, submission_id=submission_id),
        Message(id=message_id, thread_id=thread_id, direction="outbound", body="hello"),
        OutboxMessage(message_id=message_id, channel="email", recipient="p@example.org", body="hello"),
        ThreadRead(thread_id=thread_id, user_id=reader_id, read_until=utcnow()),
        MessageAttachment(message_id=message_id, kind="pdf", display_name="a.pdf", content_type="application/pdf"),
        MessageTemplate(name="Welcome", body="Hello {{ patient.first_name }}"),
        NotificationPreference(user_id=reader_id, kind="new_case"),
        ConsentRecord(patient_id=patient_id, kind="privacy_ack", granted=True, text_version="v1", source="test"),
        RetentionPolicy(category="health_image", retain_days=365),
        LegalHold(submission_id=submission_id, reason="dispute"),
        LegalHold(patient_id=patient_id, reason="claim"),
        RetentionRun(id=run_id, trigger="test"),
        RetentionItem(run_id=run_id, submission_id=submission_id, subject_sha256="0" * 64),
        RightsRequestForward(rights_request_id=request_id),
        PatientLocator(tenant_id=tenant_id, patient_id=patient_id, kind="email", digest="0" * 64),
        IntakeQuestion(concern_area="acne", position=1, text="Which products do you use?"),
    ]  # fmt: skip
    with tenant_session(tenant_id) as session:
        for row in rows:
            session.add(row)
            session.flush()  # parents before children: there are no ORM relationships
            ids[type(row).__tablename__] = row.id  # type: ignore[attr-defined]
        session.commit()
    return ids


_HASHES: dict[str, str] = {}


def make_user(
    email: str,
    *,
    role: str | None = None,
    tenants: tuple[uuid.UUID, ...] = (),
    platform_role: str | None = None,
    password: str = "correct horse staple 42",
    enrolled: bool = True,
) -> tuple[uuid.UUID, str | None]:
    """A user (with memberships); returns (user id, TOTP secret or None)."""
    import pyotp

    from mi_portal.models import Membership, User
    from mi_portal.services.auth import encrypt_secret
    from mi_portal.services.passwords import hash_password

    secret = pyotp.random_base32() if enrolled else None
    if password not in _HASHES:  # argon2 is slow on purpose; hash each test password once
        _HASHES[password] = hash_password(password)
    with platform_session() as session:
        user = User(
            email=email,
            full_name=email.split("@")[0].title(),
            password_hash=_HASHES[password],
            platform_role=platform_role,
            totp_secret=encrypt_secret(secret) if secret else None,
            totp_enabled_at=utcnow() if enrolled else None,
        )
        session.add(user)
        session.commit()
        user_id = user.id
    for tenant_id in tenants:
        with tenant_session(tenant_id) as session:
            session.add(Membership(user_id=user_id, tenant_id=tenant_id, role=role or "viewer"))
            session.commit()
    return user_id, secret


def sign_in_token(user_id: uuid.UUID, *, mfa: bool = True) -> str:
    """A real session token, as the cookie route would hand it to the browser."""
    from mi_portal.services import auth

    browser = "factory-browser"
    token = auth.redeem_ticket(
        auth.start_session(
            user_id, mfa_passed=mfa, ip="127.0.0.1", user_agent="pytest", browser=browser
        ),
        browser=browser,
    )
    assert token is not None
    return token
