"""The load test's own clinics, staff and cases, and the manifest the simulated users work from.

Written through the product's own sessions and pipelines (``tenant_session``, ``process_image``,
``add_photo_rows``, ``thread_for_case``), into whatever database and object store the
environment names (``MI_DATABASE_URL``, ``MI_STORAGE`` …): the same ones the app under test
uses. Every run makes new clinics (``load-<run>-<nn>``), so runs never share accounts or
one-time codes.

Each clinic carries a marker (``LOADMARK-<nn>-``) in its patients' names, its messages and its
notes, and the manifest lists every id (tenant, users, patients, cases, images) and every stored
photo digest of each clinic: what the leak checker compares each received frame and photo with.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from PIL import Image, ImageDraw

PASSWORD = "load-bench-2026"  # noqa: S105  (accounts of a throw-away bench clinic)
ROLES = ("clinic_manager", *("coordinator",) * 5, *("provider",) * 4)


def marker(index: int) -> str:
    """The text every patient name, message and note of clinic ``index`` carries."""
    return f"LOADMARK-{index:02d}-"


def totp_secret(email: str, run: str) -> str:
    digest = hashlib.sha256(f"mi-portal-load:{run}:{email}".encode()).digest()[:20]
    return base64.b32encode(digest).decode()


@dataclass
class ClinicData:
    index: int
    slug: str
    tenant_id: str
    marker: str
    users: list[str] = field(default_factory=list)  # emails
    user_ids: list[str] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)
    patient_ids: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    photo_digests: list[str] = field(default_factory=list)  # sha256 of every stored rendition


@dataclass
class Manifest:
    run: str
    password: str
    clinics: list[ClinicData]
    totp: dict[str, str]  # email -> base32 secret

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        raw = json.loads(path.read_text())
        return cls(
            run=raw["run"],
            password=raw["password"],
            clinics=[ClinicData(**c) for c in raw["clinics"]],
            totp=raw["totp"],
        )


def _photo(index: int, variant: int) -> bytes:
    """A photo whose colour is the clinic's own (each clinic's bytes differ)."""
    rng = random.Random(f"{index}/{variant}")
    hue = (index * 37 + variant * 11) % 360
    base = Image.new("HSV", (640, 480), (int(hue * 255 / 360), 120, 200)).convert("RGB")
    draw = ImageDraw.Draw(base)
    for _ in range(12):
        x, y, r = rng.randrange(640), rng.randrange(480), rng.randint(5, 30)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=(90, 40, 40))
    draw.text((10, 10), f"clinic {index} photo {variant}", fill=(0, 0, 0))
    out = io.BytesIO()
    base.save(out, "JPEG", quality=88)
    return out.getvalue()


def _make_clinic(
    index: int, run: str, cases: int, password_hash: str, progress: bool
) -> tuple[ClinicData, dict[str, str]]:
    from mi_portal.db import platform_session, tenant_session
    from mi_portal.models import (
        ConsentKind,
        ConsentRecord,
        Membership,
        Message,
        MessageChannel,
        MessageDirection,
        Patient,
        Submission,
        Tenant,
        User,
        utcnow,
        uuid7,
    )
    from mi_portal.services import rights_locator
    from mi_portal.services.auth import encrypt_secret
    from mi_portal.services.images import process_image
    from mi_portal.services.intake import add_photo_rows, object_key
    from mi_portal.services.messaging import thread_for_case
    from mi_portal.storage import get_store

    store = get_store()
    mark = marker(index)
    slug = f"load-{run}-{index:02d}"
    with platform_session() as session:
        tenant = Tenant(slug=slug, name=f"Load {run} clinic {index:02d}")
        session.add(tenant)
        session.commit()
        tenant_id = tenant.id
    clinic = ClinicData(index=index, slug=slug, tenant_id=str(tenant_id), marker=mark)
    secrets_by_email: dict[str, str] = {}
    with platform_session() as session:
        users = []
        for n, _role in enumerate(ROLES):
            email = f"staff{n:02d}@{slug}.test"
            secret = totp_secret(email, run)
            user = User(
                email=email,
                full_name=f"Staff {n:02d} {mark}",
                password_hash=password_hash,
                totp_secret=encrypt_secret(secret),
                totp_enabled_at=utcnow(),
            )
            session.add(user)
            users.append(user)
            secrets_by_email[email] = secret
        session.commit()
        clinic.users = [u.email for u in users]
        clinic.user_ids = [str(u.id) for u in users]
    with tenant_session(tenant_id) as session:
        for user_id, role in zip(clinic.user_ids, ROLES, strict=True):
            session.add(Membership(user_id=uuid.UUID(user_id), tenant_id=tenant_id, role=role))
        session.commit()
    # Two photos per clinic, processed once each by the intake pipeline; every case's photos
    # are stored copies of them under their own keys (as many objects and rows as real ones).
    processed = [process_image(_photo(index, v), f"photo-{v + 1}.jpg") for v in range(2)]
    # Their renditions (original, preview, thumbnail, blurred) are all the bytes this clinic's
    # photos can be.
    clinic.photo_digests = sorted({r.sha256 for p in processed for r in p.renditions})
    rng = random.Random(f"{run}/{index}")
    now = utcnow()
    with tenant_session(tenant_id) as session:
        for i in range(cases):
            patient = Patient(
                id=uuid7(),
                full_name=f"Pat {mark}{i:03d}",
                email=f"pat{i}.{slug}@example.org",
                phone=f"+1202555{rng.randint(1000, 9999)}",
            )
            session.add(patient)
            session.flush()
            rights_locator.record_patient(session, patient)
            received = now - timedelta(hours=rng.uniform(1, 24 * 30))
            case = Submission(
                id=uuid7(),
                patient_id=patient.id,
                status=rng.choice(["new", "new", "in_review", "quoted"]),
                concern_area=rng.choice(["acne", "pigmentation", "rosacea"]),
                answers={},
                assignee_id=uuid.UUID(rng.choice(clinic.user_ids)) if rng.random() < 0.5 else None,
                received_at=received,
                last_activity_at=received,
                sla_due_at=received + timedelta(hours=48),
            )
            session.add(case)
            session.flush()
            for kind in (ConsentKind.PRIVACY_ACK,):
                session.add(
                    ConsentRecord(
                        patient_id=patient.id,
                        kind=kind.value,
                        granted=True,
                        text_version="2026-01",
                        source="load_bench",
                        recorded_at=received,
                    )
                )
            thread = thread_for_case(session, case)
            session.add(
                Message(
                    thread_id=thread.id,
                    direction=MessageDirection.INBOUND.value,
                    channel=MessageChannel.EMAIL.value,
                    subject=f"Photos {mark}",
                    body=f"{mark} my photos for case {i}",
                    created_at=received,
                )
            )
            thread.subject, thread.last_message_at = f"Photos {mark}", received
            thread.last_direction = MessageDirection.INBOUND.value
            session.add(thread)
            for position in range(rng.choice([1, 2])):
                photo = processed[position]
                stored = []
                for rendition in photo.renditions:
                    key = object_key(tenant_id, rendition.kind)
                    store.put(key, rendition.data, content_type=rendition.content_type)
                    stored.append((key, rendition))
                image_id = add_photo_rows(session, case.id, position, photo, stored)
                clinic.image_ids.append(str(image_id))
            clinic.case_ids.append(str(case.id))
            clinic.patient_ids.append(str(patient.id))
        session.commit()
    if progress:
        print(f"  clinic {index:02d}: {cases} cases, {len(clinic.image_ids)} photos", flush=True)
    return clinic, secrets_by_email


def create(clinics: int, cases_per_clinic: int, *, progress: bool = True) -> Manifest:
    """New clinics, each with ten staff (known password and TOTP secrets) and cases with photos."""
    from mi_portal.services.passwords import hash_password

    run = secrets.token_hex(3)
    started = time.perf_counter()
    password_hash = hash_password(PASSWORD)  # one hash for every account: set-up stays fast
    made: list[ClinicData] = []
    totp: dict[str, str] = {}
    for index in range(clinics):
        clinic, by_email = _make_clinic(index, run, cases_per_clinic, password_hash, progress)
        made.append(clinic)
        totp.update(by_email)
    if progress:
        print(f"  set-up {run}: {clinics} clinics in {time.perf_counter() - started:.1f}s")
    return Manifest(run=run, password=PASSWORD, clinics=made, totp=totp)
