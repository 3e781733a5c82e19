"""Forwarded rights requests for the clinic-side tests (the platform's row, the clinic's copy)."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import datetime

from sqlmodel import col, select

from mi_portal.db import platform_session, tenant_session
from mi_portal.models import (
    ImageRendition,
    RenditionKind,
    RightsRequest,
    RightsRequestForward,
    Role,
    Submission,
    SubmissionImage,
    Tenant,
)
from mi_portal.services import clock, intake
from mi_portal.services.actor import Actor
from mi_portal.services.images import process_image
from tests.intake_helpers import form, jpeg_bytes


def owner(tenant_id: uuid.UUID) -> Actor:
    return Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=tenant_id)


def tenant_of(slug: str) -> uuid.UUID:
    with platform_session() as session:
        return session.exec(select(Tenant.id).where(Tenant.slug == slug)).one()


_seeds = iter(range(100, 100_000))


def case(slug: str, *, n_photos: int = 1, store: object = None, **fields: object) -> uuid.UUID:
    """A case sent through intake to clinic ``slug`` (photos unlike any other case's)."""
    photos = [process_image(jpeg_bytes(next(_seeds)), f"photo-{n}.jpg") for n in range(n_photos)]
    intake.submit(
        clinic_slugs=[slug], form=form(**fields), photos=photos, ip="203.0.113.9",
        user_agent="Patient browser", source="clinic_page", store=store,  # type: ignore[arg-type]
    )  # fmt: skip
    with tenant_session(tenant_of(slug)) as session:
        return session.exec(select(Submission.id).order_by(col(Submission.id).desc())).first()  # type: ignore[return-value]


def forward(
    tenant_id: uuid.UUID,
    kind: str,
    *,
    email: str = "robin@example.org",
    phone: str | None = None,
    received_at: datetime | None = None,
) -> uuid.UUID:
    """A verified request of ``kind`` forwarded to the clinic; returns the clinic's row id."""
    received = received_at or clock.now()
    with platform_session() as session:
        request = RightsRequest(
            kind=kind, requester_name="Robin Patient", requester_email=email,
            requester_phone=phone, status="forwarded", received_at=received,
        )  # fmt: skip
        session.add(request)
        session.commit()
        request_id, reference = request.id, request.reference
    with tenant_session(tenant_id) as session:
        row = RightsRequestForward(
            rights_request_id=request_id, reference=reference, kind=kind,
            requester_name="Robin Patient", requester_email=email, requester_phone=phone,
            received_at=received,
        )  # fmt: skip
        session.add(row)
        session.commit()
        return row.id


def original_keys(tenant_id: uuid.UUID, case_id: uuid.UUID) -> list[str]:
    with tenant_session(tenant_id) as session:
        return list(
            session.exec(
                select(ImageRendition.storage_key)
                .join(
                    SubmissionImage,
                    (col(SubmissionImage.tenant_id) == col(ImageRendition.tenant_id))
                    & (col(SubmissionImage.id) == col(ImageRendition.image_id)),
                )
                .where(
                    SubmissionImage.submission_id == case_id,
                    ImageRendition.kind == RenditionKind.ORIGINAL.value,
                )
                .order_by(col(SubmissionImage.position))
            )
        )


def all_keys(tenant_id: uuid.UUID, case_id: uuid.UUID) -> list[str]:
    with tenant_session(tenant_id) as session:
        images = select(SubmissionImage.id).where(SubmissionImage.submission_id == case_id)
        return list(
            session.exec(
                select(ImageRendition.storage_key).where(col(ImageRendition.image_id).in_(images))
            )
        )


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
