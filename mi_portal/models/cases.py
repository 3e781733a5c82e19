"""A clinic's patients and their cases (submissions), photos, renditions and notes."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field

from mi_portal.models.base import (
    DataCategory,
    TenantOwned,
    UTCDateTime,
    created_at_field,
    personal,
    plain,
    tenant_fk,
    utcnow,
)


class SubmissionStatus(StrEnum):
    """Where a case is in the clinic's workflow."""

    NEW = "new"
    IN_REVIEW = "in_review"
    QUOTED = "quoted"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CLOSED = "closed"
    ARCHIVED = "archived"


# Allowed moves, kept beside the statuses. Any status may be archived.
SUBMISSION_TRANSITIONS: dict[SubmissionStatus, frozenset[SubmissionStatus]] = {
    SubmissionStatus.NEW: frozenset({SubmissionStatus.IN_REVIEW, SubmissionStatus.ARCHIVED}),
    SubmissionStatus.IN_REVIEW: frozenset(
        {SubmissionStatus.QUOTED, SubmissionStatus.CLOSED, SubmissionStatus.ARCHIVED}
    ),
    SubmissionStatus.QUOTED: frozenset(
        {
            SubmissionStatus.ACCEPTED,
            SubmissionStatus.DECLINED,
            SubmissionStatus.IN_REVIEW,
            SubmissionStatus.ARCHIVED,
        }
    ),
    SubmissionStatus.ACCEPTED: frozenset({SubmissionStatus.CLOSED, SubmissionStatus.ARCHIVED}),
    # A revised quote may follow a declined one.
    SubmissionStatus.DECLINED: frozenset(
        {SubmissionStatus.QUOTED, SubmissionStatus.CLOSED, SubmissionStatus.ARCHIVED}
    ),
    SubmissionStatus.CLOSED: frozenset({SubmissionStatus.ARCHIVED}),
    SubmissionStatus.ARCHIVED: frozenset(),
}


class SubmissionSource(StrEnum):
    """Which form a case came through."""

    CLINIC_PAGE = "clinic_page"  # the clinic's own form, /c/<slug>/consult
    DIRECTORY = "directory"  # the multi-clinic form


class RenditionKind(StrEnum):
    ORIGINAL = "original"
    PREVIEW = "preview"
    THUMBNAIL = "thumbnail"


class Patient(TenantOwned, table=True):
    """A patient as known to one clinic (each clinic holds its own copy)."""

    __table_args__ = (sa.Index("ix_patient_tenant_email", "tenant_id", "email"),)

    full_name: str = personal(DataCategory.IDENTITY, max_length=200)
    email: str = personal(DataCategory.CONTACT, max_length=254)
    phone: str | None = personal(DataCategory.CONTACT, default=None, max_length=32)
    date_of_birth: date | None = personal(DataCategory.IDENTITY, default=None)
    created_at: datetime = created_at_field()
    # Set when retention cleared the patient's identity and contact: an anonymous tombstone.
    anonymized_at: datetime | None = plain(default=None, sa_type=UTCDateTime)


class Submission(TenantOwned, table=True):
    """A case: one patient's photos and answers sent to this clinic."""

    __table_args__ = (
        tenant_fk(["patient_id"], "patient", name="fk_submission_patient"),
        # The queue's first page: one clinic, one status, by SLA due (see bench/inbox.py).
        sa.Index("ix_submission_queue", "tenant_id", "status", "sla_due_at", "id"),
        sa.Index("ix_submission_received", "tenant_id", "received_at"),
        sa.Index("ix_submission_activity", "tenant_id", "last_activity_at"),
        sa.Index("ix_submission_assignee", "tenant_id", "assignee_id"),
        # A patient's cases: retention's "due on every case of theirs", and the foreign key's
        # check when a patient row goes.
        sa.Index("ix_submission_patient", "tenant_id", "patient_id"),
        # One case per clinic for one sending of the public form, however often it is re-sent.
        sa.Index(
            "ux_submission_intake_key",
            "tenant_id",
            "intake_key",
            unique=True,
            postgresql_where=sa.column("intake_key").is_not(None),
            sqlite_where=sa.column("intake_key").is_not(None),
        ),
    )

    patient_id: uuid.UUID
    status: str = plain(default=SubmissionStatus.NEW.value, max_length=32)
    concern_area: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=64)
    answers: dict[str, Any] = personal(
        DataCategory.SPECIAL_CATEGORY, default_factory=dict, sa_type=sa.JSON
    )
    assignee_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    received_at: datetime = plain(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_activity_at: datetime = plain(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    sla_due_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    quote_sent_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # First-response SLA: when the clinic's first message to the patient is due, and went.
    first_response_due_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    first_response_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # Which form the case came through (a ``SubmissionSource``), for the clinic's figures.
    source: str = plain(default=SubmissionSource.CLINIC_PAGE.value, max_length=16)
    # When the case first left "new" for a working status; set once, never cleared.
    reviewed_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    source_ip: str | None = personal(DataCategory.DEVICE_NETWORK, default=None, max_length=64)
    user_agent: str | None = personal(DataCategory.DEVICE_NETWORK, default=None, max_length=400)
    # Categories of this case's data that retention has already cleared, and when the case
    # became a de-identified record kept for aggregate figures only.
    retention_cleared: list[str] = plain(default_factory=list, sa_type=sa.JSON)
    # The last activity those categories were cleared up to: activity after it (a new photo,
    # message or quote) brings the categories back, to be cleared again when due.
    retention_cleared_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    deidentified_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # SHA-256 of the random key the public form's tab holds for one sending: a form re-sent
    # after an answer was lost (a worker gone after the commit) finds its case, not a new one.
    intake_key: str | None = plain(default=None, max_length=64)


class IntakeQuestion(TenantOwned, table=True):
    """A question the clinic asks on its own intake form, for one concern area ("" = all).

    Retired, never deleted: a case's answers carry the question's text as it was asked.
    """

    __table_args__ = (sa.Index("ix_intakequestion_area", "tenant_id", "concern_area", "position"),)

    concern_area: str = plain(default="", max_length=64)
    position: int = plain(default=0)
    text: str = plain(max_length=300)
    help_text: str = plain(default="", max_length=300)
    required: bool = plain(default=False)
    retired_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    created_at: datetime = plain(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class SubmissionImage(TenantOwned, table=True):
    """A photo sent with a case; its bytes live in the blob store as renditions."""

    __table_args__ = (
        tenant_fk(["submission_id"], "submission", name="fk_image_submission", ondelete="CASCADE"),
        sa.Index("ix_submissionimage_submission", "tenant_id", "submission_id"),
    )

    submission_id: uuid.UUID
    position: int = plain(default=0)
    display_name: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=200)
    content_type: str = plain(max_length=64)
    width: int = plain()
    height: int = plain()
    byte_size: int = plain()
    sha256: str = personal(DataCategory.HEALTH_IMAGE, max_length=64)
    sensitive: bool = plain(default=False)
    created_at: datetime = created_at_field()


class ImageRendition(TenantOwned, table=True):
    """One stored rendition (normalised original, preview or thumbnail) of a photo."""

    __table_args__ = (
        tenant_fk(["image_id"], "submissionimage", name="fk_rendition_image", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "image_id", "kind", name="uq_rendition_kind"),
    )

    image_id: uuid.UUID
    kind: str = plain(max_length=16)
    storage_key: str = personal(DataCategory.HEALTH_IMAGE, max_length=300, unique=True)
    content_type: str = plain(max_length=64)
    width: int = plain()
    height: int = plain()
    byte_size: int = plain()
    sha256: str = personal(DataCategory.HEALTH_IMAGE, max_length=64)


class CaseNote(TenantOwned, table=True):
    """An internal note on a case; never shown to the patient."""

    __table_args__ = (
        tenant_fk(["submission_id"], "submission", name="fk_note_submission", ondelete="CASCADE"),
        sa.Index("ix_casenote_submission", "tenant_id", "submission_id"),
    )

    submission_id: uuid.UUID
    author_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    body: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=10_000)
    created_at: datetime = created_at_field()


class AnnotationKind(StrEnum):
    ARROW = "arrow"
    ELLIPSE = "ellipse"
    TEXT = "text"


class Annotation(TenantOwned, table=True):
    """A marker a clinician drew on a photo, in coordinates normalised to the image (0…1).

    Arrows run from (x1, y1) to (x2, y2); an ellipse fills the box they span; text sits at
    (x1, y1). Normalised, a marker sits right on every rendition and at every zoom.
    """

    __table_args__ = (
        tenant_fk(["image_id"], "submissionimage", name="fk_annotation_image", ondelete="CASCADE"),
        sa.Index("ix_annotation_image", "tenant_id", "image_id"),
    )

    image_id: uuid.UUID
    author_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    kind: str = plain(max_length=16)
    x1: float = plain()
    y1: float = plain()
    x2: float = plain()
    y2: float = plain()
    # Clinical remarks about a patient's photo: the same category as an internal note.
    text: str = personal(DataCategory.SPECIAL_CATEGORY, default="", max_length=500)
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
