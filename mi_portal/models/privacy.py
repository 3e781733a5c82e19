"""Consents, retention, legal holds and privacy-rights requests."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

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


class RetentionPolicy(TenantOwned, table=True):
    """How long this clinic keeps one category of data."""

    __table_args__ = (sa.UniqueConstraint("tenant_id", "category", name="uq_retention_category"),)

    category: str = plain(max_length=32)
    retain_days: int = plain()
    action: str = plain(default="delete", max_length=16)
    updated_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    updated_at: datetime = created_at_field()


class LegalHold(TenantOwned, table=True):
    """Suspends retention deletion for a case while a hold is active."""

    __table_args__ = (tenant_fk(["submission_id"], "submission", name="fk_hold_submission"),)

    submission_id: uuid.UUID
    reason: str = plain(max_length=1000)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    released_at: datetime | None = plain(default=None, sa_type=UTCDateTime)


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
