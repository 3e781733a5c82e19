"""Consents, retention, legal holds and privacy-rights requests."""

from __future__ import annotations

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


class RightsRequestKind(StrEnum):
    ACCESS = "access"
    DELETION = "deletion"
    OPT_OUT = "opt_out"


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
    trigger: str = plain(default="cli", max_length=16)  # cli, worker, tenant-purge
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


class RightsRequest(SQLModel, table=True):
    """A privacy-rights request that reached the platform (processor) directly."""

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    kind: str = plain(max_length=16)
    requester_name: str = personal(DataCategory.IDENTITY, max_length=200)
    requester_email: str = personal(DataCategory.CONTACT, max_length=254)
    requester_phone: str | None = personal(DataCategory.CONTACT, default=None, max_length=32)
    details: str = personal(DataCategory.USER_CONTENT, default="", max_length=4000)
    status: str = plain(default="received", max_length=16)
    verified_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    verification_method: str | None = plain(default=None, max_length=64)
    received_at: datetime = created_at_field()
    closed_at: datetime | None = plain(default=None, sa_type=UTCDateTime)


class RightsRequestForward(TenantOwned, table=True):
    """A rights request forwarded to the clinic that holds the data, and its answer."""

    rights_request_id: uuid.UUID = Field(foreign_key="rightsrequest.id", index=True)
    forwarded_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    forwarded_at: datetime = created_at_field()
    status: str = plain(default="sent", max_length=16)
    response_note: str = personal(DataCategory.USER_CONTENT, default="", max_length=4000)
    responded_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
