"""Consents, retention, legal holds and privacy-rights requests."""

from __future__ import annotations

import secrets
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mi_portal.models.base import (
    DataCategory,
    TenantOwned,
    UTCDateTime,
    created_at_field,
    personal,
    plain,
    tenant_fk,
    utcnow,
    uuid7,
)


class ConsentKind(StrEnum):
    PRIVACY_ACK = "privacy_ack"
    SMS_OPT_IN = "sms_opt_in"
    MARKETING_OPT_IN = "marketing_opt_in"
    # Rights requests: granted=True records that the patient opted out / limited the use.
    SALE_SHARING_OPT_OUT = "sale_sharing_opt_out"
    LIMIT_SENSITIVE = "limit_sensitive"


class RightsRequestKind(StrEnum):
    ACCESS = "access"  # know / access: the data of the 12 months before the request
    DELETION = "deletion"
    CORRECTION = "correction"
    OPT_OUT = "opt_out"  # of sale or sharing
    LIMIT = "limit"  # limit the use of sensitive data


class RightsRequestStatus(StrEnum):
    """unverified → pending → forwarded → in progress → completed | denied | withdrawn;
    an unverified request expires after 30 days."""

    UNVERIFIED = "unverified"
    PENDING = "pending"  # verified, waiting for the platform to forward it
    FORWARDED = "forwarded"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class ForwardStatus(StrEnum):
    """One clinic's handling of a forwarded request."""

    FORWARDED = "forwarded"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DENIED = "denied"


class ConsentRecord(TenantOwned, table=True):
    """One consent given or refused by a patient, with the exact text version shown."""

    __table_args__ = (
        tenant_fk(["patient_id"], "patient", name="fk_consent_patient"),
        # The ledger: a patient's current consent of a kind is its latest row.
        sa.Index("ix_consentrecord_ledger", "tenant_id", "patient_id", "kind", "recorded_at"),
    )

    patient_id: uuid.UUID
    kind: str = plain(max_length=32)
    granted: bool = personal(DataCategory.CONTACT)
    text_version: str = plain(max_length=64)
    # sha256 of the exact consent text shown (with the policy version it refers to).
    text_sha256: str = plain(default="", max_length=64)
    source: str = plain(max_length=64)
    ip: str | None = personal(DataCategory.DEVICE_NETWORK, default=None, max_length=64)
    user_agent: str | None = personal(DataCategory.DEVICE_NETWORK, default=None, max_length=400)
    recorded_at: datetime = plain(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class RetentionAction(StrEnum):
    """What the sweep does with a category of a case's data once its period has passed."""

    DELETE = "delete"
    DEIDENTIFY = "deidentify"


class RetentionPolicy(TenantOwned, table=True):
    """How long this clinic keeps one category of data, and what happens after."""

    __table_args__ = (sa.UniqueConstraint("tenant_id", "category", name="uq_retention_category"),)

    category: str = plain(max_length=32)
    retain_days: int = plain()
    action: str = plain(default="delete", max_length=16)
    updated_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = created_at_field()


class LegalHold(TenantOwned, table=True):
    """Suspends retention for one case, or for every case of one patient, while active.

    Exactly one of ``submission_id`` and ``patient_id`` is set. A hold is active from its
    creation until it is released or its optional end date has passed.
    """

    __table_args__ = (
        tenant_fk(["submission_id"], "submission", name="fk_hold_submission"),
        tenant_fk(["patient_id"], "patient", name="fk_hold_patient"),
        sa.Index("ix_legalhold_submission", "tenant_id", "submission_id"),
        sa.Index("ix_legalhold_patient", "tenant_id", "patient_id"),
        sa.CheckConstraint(
            "(submission_id IS NULL) <> (patient_id IS NULL)", name="ck_legalhold_one_target"
        ),
    )

    submission_id: uuid.UUID | None = None
    patient_id: uuid.UUID | None = None
    # Staff write it, and it may name the patient's dispute: user content, not a plain label.
    reason: str = personal(DataCategory.USER_CONTENT, max_length=1000)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    ends_on: date | None = plain(default=None)
    released_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    released_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    release_reason: str = plain(default="", max_length=1000)


class RetentionRunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # the process died; the next run finished its items
    DRY_RUN = "dry_run"


class RetentionRun(TenantOwned, table=True):
    """One sweep of one clinic: its counts and its proof of deletion."""

    __table_args__ = (sa.Index("ix_retentionrun_started", "tenant_id", "started_at"),)

    started_at: datetime = created_at_field()
    finished_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    status: str = plain(default=RetentionRunStatus.RUNNING.value, max_length=16)
    trigger: str = plain(default="cli", max_length=16)  # cli, worker, tenant-purge, rights-request
    started_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    planned: int = plain(default=0)
    purged: int = plain(default=0)
    deidentified: int = plain(default=0)
    held: int = plain(default=0)
    failed: int = plain(default=0)
    # Counts per category and the sha256 of each finished item's case id, with times.
    proof: dict[str, Any] = plain(default_factory=dict, sa_type=sa.JSON)


class RetentionItemState(StrEnum):
    """The purge of one case, step by step; each step is committed before the next starts."""

    PLANNED = "planned"
    # Past the checks and deleting objects: from here on the item is finished, never dropped,
    # so no row is left pointing at an object that is gone.
    DELETING = "deleting"
    OBJECTS_DELETED = "objects_deleted"
    VERIFIED = "verified"
    ROWS_DONE = "rows_done"
    PROVED = "proved"
    FAILED = "failed"


class RetentionItem(TenantOwned, table=True):
    """One case's due categories, carried through the purge's steps (crash-safe: a rerun
    resumes each item at the step it had reached)."""

    __table_args__ = (
        sa.Index("ix_retentionitem_state", "tenant_id", "state", "id"),
        sa.Index("ix_retentionitem_submission", "tenant_id", "submission_id"),
    )

    # The run that planned the item, then the run that finished it (its proof lists it).
    run_id: uuid.UUID = plain()
    # Not a foreign key: the case is gone once a deleting item is done; the proof keeps a hash.
    submission_id: uuid.UUID = plain()
    subject_sha256: str = plain(max_length=64)
    # Categories cleared by this item, the resulting case outcome (keep, deidentify, delete)
    # and whether the patient's own record is cleared with it.
    categories: list[str] = plain(default_factory=list, sa_type=sa.JSON)
    outcome: str = plain(default="keep", max_length=16)
    patient_categories: list[str] = plain(default_factory=list, sa_type=sa.JSON)
    # The objects to delete, listed when planned (keys are the store's, not personal).
    object_keys: list[str] = plain(default_factory=list, sa_type=sa.JSON)
    counts: dict[str, Any] = plain(default_factory=dict, sa_type=sa.JSON)
    state: str = plain(default=RetentionItemState.PLANNED.value, max_length=16)
    attempts: int = plain(default=0)
    last_error: str = plain(default="", max_length=1000)
    planned_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()
    proved_at: datetime | None = plain(default=None, sa_type=UTCDateTime)


_REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O or 1/I to misread


def new_reference() -> str:
    """A request's reference, e.g. ``RR-7KQ2-9XMA``: random, and says nothing about anyone."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"RR-{chars[:4]}-{chars[4:]}"


class RightsRequest(SQLModel, table=True):
    """A privacy-rights request that reached the platform (the processor) directly.

    A platform table: only platform services read it. A clinic sees a request only through
    the copy forwarded to it (``RightsRequestForward``).
    """

    __table_args__ = (
        sa.UniqueConstraint("reference", name="uq_rightsrequest_reference"),
        sa.Index("ix_rightsrequest_status", "status", "received_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    # What the requester quotes, e.g. "RR-7KQ2-9XMA" (random, says nothing about them).
    reference: str = plain(default_factory=lambda: new_reference(), max_length=16)
    kind: str = plain(max_length=16)
    # The data subject: the patient whose data it is.
    requester_name: str = personal(DataCategory.IDENTITY, max_length=200)
    requester_email: str = personal(DataCategory.CONTACT, max_length=254)
    requester_phone: str | None = personal(DataCategory.CONTACT, default=None, max_length=32)
    details: str = personal(DataCategory.USER_CONTENT, default="", max_length=4000)
    # An authorised agent acting for the patient, and the signed authorisation they uploaded.
    by_agent: bool = plain(default=False)
    agent_name: str = personal(DataCategory.IDENTITY, default="", max_length=200)
    agent_email: str = personal(DataCategory.CONTACT, default="", max_length=254)
    authorisation_key: str | None = plain(default=None, max_length=300)
    authorisation_type: str = plain(default="", max_length=64)
    # A state or country code (US-CA, GB, DE …) and the regime its deadlines follow.
    jurisdiction: str = plain(default="", max_length=8)
    regime: str = plain(default="", max_length=8)
    status: str = plain(default=RightsRequestStatus.UNVERIFIED.value, max_length=16)
    # The one-time code: its keyed digest, when it lapses, the wrong tries against it.
    code_digest: str | None = plain(default=None, max_length=64)
    code_expires_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    code_attempts: int = plain(default=0)
    codes_sent: int = plain(default=0)
    verified_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    verification_method: str | None = plain(default=None, max_length=64)
    received_at: datetime = created_at_field()
    acknowledge_by: date | None = plain(default=None)
    due_on: date | None = plain(default=None)
    extended_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    extension_reason: str = plain(default="", max_length=1000)
    # Which clinics hold data (ids only, from the locator) and each one's answer so far.
    matched_clinics: list[str] = plain(default_factory=list, sa_type=sa.JSON)
    clinic_status: dict[str, Any] = plain(default_factory=dict, sa_type=sa.JSON)
    # no_data, answered, denied, withdrawn, expired; the note the requester is shown.
    outcome: str = plain(default="", max_length=16)
    outcome_note: str = personal(DataCategory.USER_CONTENT, default="", max_length=4000)
    closed_at: datetime | None = plain(default=None, sa_type=UTCDateTime)


class RightsRequestStep(SQLModel, table=True):
    """One step on a request's timeline (the platform's view; each is audited too)."""

    __table_args__ = (sa.Index("ix_rightsrequeststep_request", "request_id", "at"),)

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    request_id: uuid.UUID = Field(foreign_key="rightsrequest.id")
    at: datetime = created_at_field()
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    action: str = plain(max_length=32)
    # What the step says, in words for the timeline (never a clinic's patient data).
    note: str = personal(DataCategory.USER_CONTENT, default="", max_length=1000)


class RightsRequestForward(TenantOwned, table=True):
    """A rights request forwarded to a clinic that holds data, with its own copy of what the
    clinic needs (so the clinic never reads the platform's table), and the clinic's answer."""

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "rights_request_id", name="uq_forward_request"),
    )

    rights_request_id: uuid.UUID = Field(foreign_key="rightsrequest.id", index=True)
    forwarded_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    forwarded_at: datetime = created_at_field()
    status: str = plain(default=ForwardStatus.FORWARDED.value, max_length=16)
    reference: str = plain(default="", max_length=16)
    kind: str = plain(default="", max_length=16)
    requester_name: str = personal(DataCategory.IDENTITY, default="", max_length=200)
    requester_email: str = personal(DataCategory.CONTACT, default="", max_length=254)
    requester_phone: str | None = personal(DataCategory.CONTACT, default=None, max_length=32)
    details: str = personal(DataCategory.USER_CONTENT, default="", max_length=4000)
    by_agent: bool = plain(default=False)
    agent_name: str = personal(DataCategory.IDENTITY, default="", max_length=200)
    agent_email: str = personal(DataCategory.CONTACT, default="", max_length=254)
    jurisdiction: str = plain(default="", max_length=8)
    received_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    due_on: date | None = plain(default=None)
    started_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    started_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    # What was done: the package's object key and sha256, the retention run and its proof,
    # the fields corrected (names only), consents recorded, and what was kept and why.
    result: dict[str, Any] = plain(default_factory=dict, sa_type=sa.JSON)
    # The access package and its single-use link (a keyed digest of the token, never the token).
    package_key: str | None = plain(default=None, max_length=300)
    package_sha256: str = plain(default="", max_length=64)
    link_digest: str | None = plain(default=None, max_length=64)
    link_expires_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    link_used_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # What the requester is told (a denial's reason, the answer's summary).
    response_note: str = personal(DataCategory.USER_CONTENT, default="", max_length=4000)
    responded_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    responded_at: datetime | None = plain(default=None, sa_type=UTCDateTime)


class PatientLocator(SQLModel, table=True):
    """Which clinic holds a patient with a given email or phone, as keyed digests only.

    HMAC-SHA256 under a platform key of the normalised address: the platform learns which
    clinics to forward a verified request to without reading any clinic's patient table.
    Written by the clinic's own session (row-level security: its rows only); read by the
    platform's rights-request lookup, which returns clinic ids and nothing else.
    """

    __table_args__ = (
        sa.Index("ix_patientlocator_digest", "digest"),
        sa.Index("ix_patientlocator_patient", "tenant_id", "patient_id"),
        sa.UniqueConstraint("tenant_id", "patient_id", "kind", name="uq_patientlocator_kind"),
    )

    tenant_id: uuid.UUID = Field(primary_key=True, foreign_key="tenant.id", ondelete="RESTRICT")
    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    patient_id: uuid.UUID = plain()
    kind: str = plain(max_length=8)  # email or phone
    digest: str = plain(max_length=64)
    updated_at: datetime = created_at_field()
