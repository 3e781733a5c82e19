"""The append-only audit log, hash-chained per tenant (and one chain for platform events)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mi_portal.models.base import (
    DataCategory,
    UTCDateTime,
    personal,
    plain,
    utcnow,
    uuid7,
)

PLATFORM_CHAIN = "platform"


class AuditEvent(SQLModel, table=True):
    """Who did what to which record, where and when.

    Never deleted; updated only to erase its personal details (``services.audit.erase_personal``).
    """

    __table_args__ = (
        sa.UniqueConstraint("chain", "seq", name="uq_audit_chain_seq"),
        # One record's events in a chain, in order: the case timeline, erasure, the audit
        # page's record filter. Without it each read walked the clinic's whole chain.
        sa.Index("ix_audit_target", "chain", "target_id", "seq"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    chain: str = plain(max_length=64)
    seq: int = plain()
    occurred_at: datetime = plain(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    user_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id", index=True)
    role: str | None = plain(default=None, max_length=32)
    home_tenant_id: uuid.UUID | None = Field(default=None, foreign_key="tenant.id")
    tenant_id: uuid.UUID | None = Field(default=None, foreign_key="tenant.id", index=True)
    action: str = plain(max_length=64, index=True)
    target_type: str | None = plain(default=None, max_length=64)
    target_id: str | None = plain(default=None, max_length=64)
    outcome: str = plain(default="ok", max_length=16)
    ip: str | None = personal(DataCategory.DEVICE_NETWORK, default=None, max_length=64)
    user_agent: str | None = personal(DataCategory.DEVICE_NETWORK, default=None, max_length=400)
    reason: str | None = personal(DataCategory.USER_CONTENT, default=None, max_length=1000)
    # Staff emails, search result ids and similar: personal, never health details.
    details: dict[str, Any] = personal(DataCategory.CONTACT, default_factory=dict, sa_type=sa.JSON)
    # The chain hashes ``personal_digest`` (HMAC-SHA256 of ip, user_agent, reason and details
    # under the per-event ``personal_key``), never those fields themselves: erasing them with
    # their key leaves every link verifiable and nothing to guess the erased values from.
    personal_key: str | None = plain(default=None, max_length=64)
    personal_digest: str = plain(default="", max_length=64)
    erased_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    prev_hash: str = plain(max_length=64)
    hash: str = plain(max_length=64)
