"""Demo data: three clinics, a user for every role, 300+ cases with synthetic photos.

Running it twice does not duplicate anything: a clinic that exists is left as it is.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import cast

from rich.progress import Progress
from sqlmodel import col, func, select

from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.jobs.demo_photos import demo_photo
from mi_portal.jobs.seed_lifecycle import OWNER as SUSPENDED_OWNER
from mi_portal.jobs.seed_lifecycle import PATIENTS as SUSPENDED_PATIENTS
from mi_portal.jobs.seed_lifecycle import SLUG as SUSPENDED_SLUG
from mi_portal.jobs.seed_lifecycle import seed_suspended_clinic
from mi_portal.jobs.seed_quotes import seed_quotes
from mi_portal.jobs.seed_rights import seed_rights
from mi_portal.models import (
    SUBMISSION_TRANSITIONS,
    CaseNote,
    ConsentKind,
    ConsentRecord,
    Membership,
    Message,
    MessageChannel,
    MessageDirection,
    MessageTemplate,
    MessageThread,
    OutboxMessage,
    OutboxStatus,
    PackageItem,
    Patient,
    Role,
    Submission,
    SubmissionSource,
    SubmissionStatus,
    TaxClass,
    Tenant,
    TreatmentItem,
    TreatmentPackage,
    User,
    utcnow,
    uuid7,
)
from mi_portal.services import audit, rights_locator
from mi_portal.services.actor import Actor
from mi_portal.services.auth import encrypt_secret
from mi_portal.services.images import process_image
from mi_portal.services.intake import add_photo_rows, object_key
from mi_portal.services.intake_questions import QUESTIONS
from mi_portal.services.passwords import hash_password
from mi_portal.services.policy import INTAKE_CONSENTS
from mi_portal.storage import BlobStore, get_store

DEMO_PASSWORD = "portal-demo-2026"  # noqa: S105  (printed for the demo; not a real secret)


def demo_totp_secret(email: str) -> str:
    """A fixed TOTP secret per demo user, so the README can list them (demo data only)."""
    digest = hashlib.sha256(f"mi-portal-demo:{email}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


@dataclass(frozen=True)
class DemoClinic:
    slug: str
    name: str
    turnaround_hours: int
    concerns: tuple[str, ...]
    treatments: tuple[tuple[str, str], ...]


CLINICS = (
    DemoClinic(
        "lakeside-derm",
        "Lakeside Dermatology",
        48,
        ("acne", "pigmentation", "rosacea", "scarring"),
        (("Chemical peel", "180.00"), ("Laser resurfacing", "950.00"), ("Consultation", "75.00")),
    ),
    DemoClinic(
        "riverbend-aesthetics",
        "Riverbend Aesthetics",
        24,
        ("body_contour", "hair_loss", "pigmentation"),
        (("PRP hair session", "650.00"), ("Body contouring", "1800.00"), ("Consultation", "90.00")),
    ),
    DemoClinic(
        "summit-dental",
        "Summit Dental Studio",
        72,
        ("teeth",),
        (("Whitening", "420.00"), ("Veneer (per tooth)", "1150.00"), ("Aligners", "3900.00")),
    ),
)

CLINIC_STAFF_ROLES = (
    Role.CLINIC_OWNER,
    Role.CLINIC_MANAGER,
    Role.COORDINATOR,
    Role.PROVIDER,
    Role.VIEWER,
)

FIRST = ["Ava", "Noah", "Mia", "Liam", "Zoe", "Omar", "Ines", "Kai", "Lena", "Raj", "Sofia", "Theo"]
LAST = [
    "Garcia",
    "Nguyen",
    "Okafor",
    "Schmidt",
    "Rossi",
    "Khan",
    "Dubois",
    "Sato",
    "Silva",
    "Novak",
]


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role
    clinics: tuple[str, ...]


def demo_users() -> list[DemoUser]:
    users = [
        DemoUser("admin@mi-portal.test", "Platform Admin", Role.PLATFORM_ADMIN, ()),
        DemoUser("support@mi-portal.test", "Platform Support", Role.PLATFORM_SUPPORT, ()),
    ]
    for clinic in CLINICS:
        for role in CLINIC_STAFF_ROLES:
            local = role.value.replace("clinic_", "")
            users.append(
                DemoUser(
                    f"{local}@{clinic.slug}.test",
                    f"{clinic.name.split()[0]} {local.title()}",
                    role,
                    (clinic.slug,),
                )
            )
    # One provider who works for two clinics, to show the clinic picker.
    users.append(
        DemoUser(
            "locum@mi-portal.test",
            "Locum Provider",
            Role.PROVIDER,
            (CLINICS[0].slug, CLINICS[1].slug),
        )
    )
    # The owner of the suspended demo clinic (jobs/seed_lifecycle.py): sign-in says why not.
    users.append(DemoUser(SUSPENDED_OWNER, "Willow Owner", Role.CLINIC_OWNER, (SUSPENDED_SLUG,)))
    return users


def _random_status(rng: random.Random) -> SubmissionStatus:
    """Walk the workflow a random number of steps, so every status is reachable and legal."""
    status = SubmissionStatus.NEW
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 4])):
        options = sorted(SUBMISSION_TRANSITIONS[status] - {SubmissionStatus.ARCHIVED})
        if not options:
            break
        status = rng.choice(options)
    return status


def _origin(
    rng: random.Random, status: SubmissionStatus, received: datetime, now: datetime
) -> tuple[str, datetime | None]:
    """A demo case's form (about a third from the multi-clinic form) and, once it left "new",
    when it was first reviewed: mostly within the working day, sometimes days later."""
    source = (
        SubmissionSource.DIRECTORY if rng.random() < 0.35 else SubmissionSource.CLINIC_PAGE
    ).value
    delay = rng.choice([rng.uniform(0.2, 8), rng.uniform(0.2, 8), rng.uniform(8, 72)])
    if status == SubmissionStatus.NEW:
        return source, None
    return source, min(received + timedelta(hours=delay), now)


def _seed_users(clinic_ids: dict[str, uuid.UUID]) -> dict[str, uuid.UUID]:
    password_hash = hash_password(DEMO_PASSWORD)
    ids: dict[str, uuid.UUID] = {}
    with platform_session() as session:
        for demo in demo_users():
            user = session.exec(select(User).where(User.email == demo.email)).first()
            if user is None:
                user = User(
                    email=demo.email,
                    full_name=demo.name,
                    password_hash=password_hash,
                    platform_role=demo.role.value if not demo.clinics else None,
                    totp_secret=encrypt_secret(demo_totp_secret(demo.email)),
                    totp_enabled_at=utcnow(),
                )
                session.add(user)
                session.flush()
            ids[demo.email] = user.id
        session.commit()
    # Memberships are written inside each clinic's scope (row-level security on membership).
    for slug, tenant_id in clinic_ids.items():
        with tenant_session(tenant_id) as session:
            for demo in demo_users():
                if slug not in demo.clinics:
                    continue
                user_id = ids[demo.email]
                exists = session.exec(
                    select(Membership).where(
                        Membership.user_id == user_id, Membership.tenant_id == tenant_id
                    )
                ).first()
                if exists is None:
                    session.add(
                        Membership(user_id=user_id, tenant_id=tenant_id, role=demo.role.value)
                    )
            session.commit()
    return ids


def _seed_cases(
    clinic: DemoClinic,
    tenant_id: uuid.UUID,
    count: int,
    staff: list[uuid.UUID],
    store: BlobStore,
    progress: Progress,
    task: object,
) -> None:
    rng = random.Random(clinic.slug)
    talk = random.Random(f"{clinic.slug}/messages")
    # Where each case came from and when it was first looked at, for the dashboard: drawn from
    # their own generator, so every other draw stays what it was.
    origin = random.Random(f"{clinic.slug}/origin")
    now = utcnow()
    with tenant_session(tenant_id) as session:
        seed_catalog(session, tenant_id)
        standard = session.exec(select(TaxClass).where(TaxClass.name == "Standard rate")).one()
        for name, price in clinic.treatments:  # each clinic's own specialities besides
            session.add(
                TreatmentItem(
                    name=name,
                    unit_price=Decimal(price),
                    category="Specialities",
                    tax_class_id=standard.id,
                )
            )
        for name, channel, subject, body in DEMO_TEMPLATES:
            session.add(MessageTemplate(name=name, channel=channel, subject=subject, body=body))
        people: list[tuple[str, str, str]] = []
        first_seen: dict[str, datetime] = {}
        for i in range(count):
            if i % 6 == 5 and people:
                # A returning patient: a new case from the same person (before/after photos).
                first, last, email = people[(i // 6) % len(people)]
            else:
                first, last = rng.choice(FIRST), rng.choice(LAST)
                email = f"{first}.{last}.{i}@example.org".lower()
                people.append((first, last, email))
            patient = Patient(
                id=uuid7(),
                full_name=f"{first} {last}",
                email=email,
                phone=f"+1202555{rng.randint(1000, 9999)}",
                date_of_birth=date(rng.randint(1955, 2006), rng.randint(1, 12), rng.randint(1, 28)),
            )
            session.add(patient)
            # No ORM relationships: flush parents first so composite foreign keys are satisfied.
            session.flush()
            rights_locator.record_patient(session, patient)
            received = now - timedelta(hours=rng.uniform(1, 24 * 60))
            if email in first_seen:  # the return visit comes after the first one
                received = min(now - timedelta(hours=1), first_seen[email] + timedelta(days=14))
            first_seen.setdefault(email, received)
            status = _random_status(rng)
            concern = rng.choice(clinic.concerns)
            source, reviewed = _origin(origin, status, received, now)
            submission = Submission(
                id=uuid7(),
                patient_id=patient.id,
                status=status.value,
                concern_area=concern,
                answers={  # as the form stores them: each answer with its question's text
                    key: {"question": QUESTIONS[key], "answer": rng.choice(choices)}
                    for key, choices in (
                        ("how_long", ["weeks", "months", "years"]),
                        ("previous_treatment", ["none", "creams", "laser", "other"]),
                        ("goal", ["reduce", "remove", "advice"]),
                    )
                },
                assignee_id=rng.choice([None, *staff]) if staff else None,
                received_at=received,
                last_activity_at=received + timedelta(hours=rng.uniform(0, 12)),
                sla_due_at=received + timedelta(hours=clinic.turnaround_hours),
                source=source,
                reviewed_at=reviewed,
            )
            session.add(submission)
            session.flush()
            for kind in INTAKE_CONSENTS:
                granted = kind == ConsentKind.PRIVACY_ACK or rng.random() < 0.4
                session.add(
                    ConsentRecord(
                        patient_id=patient.id,
                        kind=kind.value,
                        granted=granted,
                        text_version="2026-01",
                        source="demo_seed",
                        recorded_at=received,
                    )
                )
            # Conversations draw from their own generator: the cases stay what they were.
            if talk.random() < 0.4:
                _add_conversation(session, talk, submission, patient, staff, received, i)
            for position in range(rng.choice([1, 1, 2])):
                # Returning patients' photos are large: the viewer fetches their originals when
                # zooming past the 1600 px preview.
                size = (2400, 1800) if i % 6 == 5 else (800, 600)
                _add_photo(session, store, tenant_id, submission.id, position, rng, concern, size)
            if rng.random() < 0.3 and staff:
                session.add(
                    CaseNote(
                        submission_id=submission.id,
                        author_id=rng.choice(staff),
                        body=rng.choice(
                            [
                                "Photos are clear; suitable for a remote estimate.",
                                "Asked the patient for a photo in daylight.",
                                "Likely needs two sessions; check availability.",
                                "Discussed with the provider; quote to follow.",
                            ]
                        ),
                    )
                )
            progress.advance(task)  # type: ignore[arg-type]
        session.commit()


DEMO_TEMPLATES = (
    (
        "Photos received",
        "email",
        "Your photos for case {{ case.reference }}",
        "Hello {{ patient.first_name }},\n\nthank you for your photos. We are looking at them and "
        "will come back to you with a quote.\n\nYou can answer or send more photos here: "
        "{{ reply_link }}\n\n{{ staff.name }}, {{ clinic.name }}",
    ),
    (
        "Better photos, please",
        "email",
        "Case {{ case.reference }}: one more photo",
        "Hello {{ patient.first_name }},\n\ncould you send one more photo in daylight, without "
        "flash? Use this page: {{ reply_link }}\n\n{{ staff.name }}, {{ clinic.name }}",
    ),
    (
        "Text: quote coming",
        "sms",
        "",
        "{{ clinic.name }}: your quote for case {{ case.reference }} is on its way. "
        "Reply STOP to opt out.",
    ),
)
DEMO_REPLIES = (
    "Thank you! Is the treatment painful?",
    "Here is a photo taken in daylight, I hope it helps.",
    "Could we book something next month?",
)


def _add_conversation(
    session: object,
    rng: random.Random,
    submission: Submission,
    patient: Patient,
    staff: list[uuid.UUID],
    received: datetime,
    index: int,
) -> None:
    """A thread with a sent email, sometimes the patient's unread answer, once a failed send."""
    from mi_portal.services.messaging import reply_address, thread_for_case

    db = cast("ScopedSession", session)
    thread = thread_for_case(db, submission)
    sent_at = received + timedelta(hours=rng.uniform(1, 6))
    first = patient.full_name.split()[0]
    body = (
        f"Hello {first},\n\nthank you for your photos. We are looking at them and will come back "
        "to you with a quote."
    )
    outbound = Message(
        thread_id=thread.id,
        direction=MessageDirection.OUTBOUND.value,
        channel=MessageChannel.EMAIL.value,
        sender_user_id=rng.choice(staff) if staff else None,
        subject="Your photos",
        body=body,
        created_at=sent_at,
    )
    db.add(outbound)
    db.flush()
    failed = index % 17 == 3
    db.add(
        OutboxMessage(
            message_id=outbound.id,
            channel=MessageChannel.EMAIL.value,
            recipient=patient.email,
            subject="Your photos",
            body=body,
            reply_to=reply_address(thread),
            status=OutboxStatus.FAILED.value if failed else OutboxStatus.SENT.value,
            attempts=6 if failed else 1,
            sent_at=None if failed else sent_at,
            last_error="the mail server refused the address (550)" if failed else None,
            created_at=sent_at,
        )
    )
    last, direction = sent_at, MessageDirection.OUTBOUND.value
    if not failed and rng.random() < 0.6:
        last = sent_at + timedelta(hours=rng.uniform(1, 20))
        direction = MessageDirection.INBOUND.value
        db.add(
            Message(
                thread_id=thread.id,
                direction=direction,
                channel=MessageChannel.EMAIL.value,
                subject="Re: Your photos",
                body=rng.choice(DEMO_REPLIES),
                created_at=last,
            )
        )
    thread.subject, thread.last_message_at, thread.last_direction = "Your photos", last, direction
    db.add(thread)


def _add_photo(
    session: object,
    store: BlobStore,
    tenant_id: uuid.UUID,
    submission_id: uuid.UUID,
    position: int,
    rng: random.Random,
    concern: str,
    size: tuple[int, int] = (800, 600),
) -> None:
    # Through the same pipeline and rows as a patient's upload: encoded, checked, stripped.
    buffer = io.BytesIO()
    demo_photo(rng, concern, size).save(buffer, "JPEG", quality=90)
    processed = process_image(buffer.getvalue(), f"photo-{position + 1}.jpg")
    stored = []
    for rendition in processed.renditions:
        key = object_key(tenant_id, rendition.kind)
        store.put(key, rendition.data, content_type=rendition.content_type)
        stored.append((key, rendition))
    add_photo_rows(session, submission_id, position, processed, stored)


def _mark_seeded(tenant_id: uuid.UUID) -> None:
    # Set only after the clinic's cases are committed, so an interrupted seed is finished next time.
    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.settings = {**tenant.settings, "demo_seeded": True}
        session.add(tenant)
        session.commit()


def seed(*, cases_per_clinic: int = 110, store: BlobStore | None = None) -> dict[str, int]:
    """Create whatever demo data is missing; returns the number of cases created per clinic."""
    store = store or get_store()
    created: dict[str, int] = {}
    clinic_ids: dict[str, uuid.UUID] = {}
    new_clinics: list[DemoClinic] = []
    with platform_session() as session:
        for clinic in CLINICS:
            tenant = session.exec(select(Tenant).where(Tenant.slug == clinic.slug)).first()
            if tenant is None:
                tenant = Tenant(
                    slug=clinic.slug,
                    name=clinic.name,
                    quote_turnaround_hours=clinic.turnaround_hours,
                )
                session.add(tenant)
            if not tenant.settings.get("demo_seeded"):
                new_clinics.append(clinic)
            clinic_ids[clinic.slug] = tenant.id
        session.commit()
    user_ids = _seed_users(clinic_ids)
    with Progress() as progress:
        for clinic in new_clinics:
            staff = [
                uid
                for email, uid in user_ids.items()
                if email.endswith(f"@{clinic.slug}.test")
                and email.split("@")[0] in ("manager", "coordinator", "provider")
            ]
            task = progress.add_task(f"{clinic.name}", total=cases_per_clinic)
            _seed_cases(
                clinic, clinic_ids[clinic.slug], cases_per_clinic, staff, store, progress, task
            )
            _seed_audit_trail(clinic_ids[clinic.slug], user_ids, clinic.slug)
            seed_quotes(clinic_ids[clinic.slug], user_ids[f"manager@{clinic.slug}.test"])
            _seed_retention(clinic_ids[clinic.slug], user_ids, clinic.slug)
            _seed_calendar(clinic_ids[clinic.slug], clinic.slug)
            _mark_seeded(clinic_ids[clinic.slug])
            created[clinic.slug] = cases_per_clinic
    seed_rights(clinic_ids, user_ids)
    # Last, so every draw above stays as it was.
    if seed_suspended_clinic(user_ids, store):
        created[SUSPENDED_SLUG] = len(SUSPENDED_PATIENTS)
    return created


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
# Each demo clinic's clock and week: (time zone, opening hours, first-reply target in hours).
CALENDARS: dict[str, tuple[str, dict[str, list[str]], int]] = {
    "lakeside-derm": ("America/New_York", {d: ["09:00", "17:00"] for d in _WEEKDAYS}, 8),
    "riverbend-aesthetics": (
        "Europe/London",
        {**{d: ["09:00", "18:00"] for d in _WEEKDAYS}, "sat": ["09:00", "13:00"]},
        4,
    ),
    "summit-dental": (
        "America/Los_Angeles",
        {d: ["08:00", "16:00"] for d in _WEEKDAYS[:4]},
        24,
    ),
}


def _seed_calendar(tenant_id: uuid.UUID, slug: str) -> None:
    """The clinic's time zone, week and closed days, then every case's due times in business
    time. Runs after the cases exist and draws nothing at random, so the cases stay the same."""
    from mi_portal.services import business_time

    zone, hours, first_hours = CALENDARS[slug]
    today = utcnow().date()
    # A training day last week and the coming New Year's Day.
    closed = sorted(
        {(today - timedelta(days=6)).isoformat(), date(today.year + 1, 1, 1).isoformat()}
    )
    with tenant_session(tenant_id) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.timezone, tenant.business_hours = zone, hours
        tenant.closed_days, tenant.first_response_hours = closed, first_hours
        tenant.settings = {
            **tenant.settings,
            "closed_day_labels": {closed[0]: "Staff training", closed[-1]: "New Year's Day"},
        }
        session.add(tenant)
        calendar = business_time.calendar_for(tenant)
        replies = dict(
            session.exec(
                select(MessageThread.submission_id, func.min(Message.created_at))
                .join(
                    Message,
                    (col(Message.tenant_id) == MessageThread.tenant_id)
                    & (col(Message.thread_id) == MessageThread.id),
                )
                .where(Message.direction == MessageDirection.OUTBOUND.value)
                .group_by(col(MessageThread.submission_id))
            ).all()
        )
        for case in session.exec(select(Submission)).all():
            case.first_response_due_at, case.sla_due_at = business_time.due_times(
                case.received_at, calendar, first_hours, tenant.quote_turnaround_hours
            )
            case.first_response_at = replies.get(case.id)
            session.add(case)
        session.commit()


def _seed_retention(tenant_id: uuid.UUID, user_ids: dict[str, uuid.UUID], slug: str) -> None:
    """The owner's own period for device data, and one case on legal hold, made through the
    same services the settings page and the case page use."""
    from mi_portal.services import legal_holds, retention_rules

    owner = Actor(user_id=user_ids[f"owner@{slug}.test"], role=Role.CLINIC_OWNER,
                  tenant_id=tenant_id)  # fmt: skip
    retention_rules.save_policies(owner, {"device_network": (75, "delete")})
    with tenant_session(tenant_id) as session:
        oldest = session.exec(
            select(Submission.id).order_by(col(Submission.received_at)).limit(1)
        ).first()
    if oldest is not None:
        manager = Actor(user_id=user_ids[f"manager@{slug}.test"], role=Role.CLINIC_MANAGER,
                        tenant_id=tenant_id)  # fmt: skip
        legal_holds.place_hold(
            manager,
            case_id=oldest,
            reason="Complaint under review: keep everything until it is resolved.",
        )


def _seed_audit_trail(tenant_id: uuid.UUID, user_ids: dict[str, uuid.UUID], slug: str) -> None:
    """A realistic trail for the viewer and `audit verify`: sign-ins, case views, a platform switch."""
    ip, agent = "203.0.113.10", "Mozilla/5.0 (demo seed)"
    with tenant_session(tenant_id) as session:
        cases = session.exec(
            select(Submission.id).order_by(col(Submission.received_at)).limit(3)
        ).all()
    for local, role in (
        ("owner", Role.CLINIC_OWNER),
        ("manager", Role.CLINIC_MANAGER),
        ("provider", Role.PROVIDER),
    ):
        user_id = user_ids[f"{local}@{slug}.test"]
        actor = Actor(
            user_id=user_id,
            role=role,
            tenant_id=tenant_id,
            home_tenant_id=tenant_id,
            ip=ip,
            user_agent=agent,
        )
        audit.record(
            None, "auth.sign_in", user_id=user_id, ip=ip, user_agent=agent, details={"mfa": True}
        )
        audit.record(actor, "tenant.select")
        for case_id in cases:
            audit.record(actor, "case.view", target_type="submission", target_id=case_id)
            audit.record(
                actor, "images.thumbnails_listed", target_type="submission", target_id=case_id
            )
    admin = Actor(
        user_id=user_ids["admin@mi-portal.test"],
        role=Role.PLATFORM_ADMIN,
        tenant_id=tenant_id,
        ip=ip,
        user_agent=agent,
    )
    reason = "Demo: onboarding check of the clinic's settings"
    for platform in (False, True):
        audit.record(
            admin,
            "tenant.switch_in",
            platform=platform,
            target_type="tenant",
            target_id=tenant_id,
            reason=reason,
        )
    for platform in (False, True):
        audit.record(
            admin, "tenant.switch_out", platform=platform, target_type="tenant", target_id=tenant_id
        )


# The demo catalog: (category, name, unit, price, "from" price, tax class) and packages of it.
DEMO_TAX_CLASSES = (("Standard rate", "20"), ("Exempt", "0"))
DEMO_CATALOG = (
    ("Injectables", "Anti-wrinkle, one area", "area", "180.00", False, "Standard rate"),
    ("Injectables", "Dermal filler 1 ml", "syringe", "320.00", False, "Standard rate"),
    ("Skin", "Medical consultation", "session", "75.00", False, "Exempt"),
    ("Skin", "Superficial chemical peel", "session", "140.00", False, "Standard rate"),
    ("Skin", "Microneedling", "session", "250.00", True, "Standard rate"),
    ("Hair", "PRP scalp treatment", "session", "450.00", False, "Standard rate"),
    ("Laser", "Laser hair removal, small area", "session", "95.00", True, "Standard rate"),
    ("Laser", "Fractional laser resurfacing", "session", "890.00", True, "Standard rate"),
)
DEMO_PACKAGES = (
    (
        "Fresh skin course",
        "Three peels and a consultation.",
        "420.00",
        (("Superficial chemical peel", 3), ("Medical consultation", 1)),
    ),
    ("Hair restoration course", "Three PRP sessions.", "1200.00", (("PRP scalp treatment", 3),)),
)


def seed_catalog(session: ScopedSession, tenant_id: uuid.UUID) -> None:
    """Give a clinic a small demo catalog (tax classes, items, packages); the caller commits.

    ``session`` is the clinic's ``tenant_session``. Rows whose names exist are left as they are,
    so running it twice adds nothing.
    """
    tenant = session.get(Tenant, tenant_id)
    currency = tenant.currency if tenant is not None else "USD"
    taxes = {t.name: t for t in session.exec(select(TaxClass))}
    for name, rate in DEMO_TAX_CLASSES:
        if name not in taxes:
            taxes[name] = TaxClass(id=uuid7(), name=name, rate=Decimal(rate))
            session.add(taxes[name])
    items = {i.name: i for i in session.exec(select(TreatmentItem))}
    for category, name, unit, price, price_from, tax in DEMO_CATALOG:
        if name not in items:
            items[name] = TreatmentItem(
                id=uuid7(),
                name=name,
                category=category,
                unit_label=unit,
                unit_price=Decimal(price),
                price_from=price_from,
                tax_class_id=taxes[tax].id,
                currency=currency,
            )
            session.add(items[name])
    session.flush()
    known = set(session.exec(select(TreatmentPackage.name)).all())
    for name, description, price, lines in DEMO_PACKAGES:
        if name in known:
            continue
        package = TreatmentPackage(
            id=uuid7(),
            name=name,
            description=description,
            price=Decimal(price),
            tax_class_id=taxes["Standard rate"].id,
        )
        session.add(package)
        session.flush()
        for position, (item_name, quantity) in enumerate(lines):
            session.add(
                PackageItem(
                    package_id=package.id,
                    treatment_item_id=items[item_name].id,
                    quantity=quantity,
                    position=position,
                )
            )
    session.flush()
