"""Conversations with patients and the outbox that delivers them."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

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
)


class MessageDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class MessageThread(TenantOwned, table=True):
    """The conversation about one case."""

    __table_args__ = (
        tenant_fk(["submission_id"], "submission", name="fk_thread_submission", ondelete="CASCADE"),
        sa.Index("ix_messagethread_submission", "tenant_id", "submission_id"),
    )

    submission_id: uuid.UUID
    subject: str = personal(DataCategory.SPECIAL_CATEGORY, default="", max_length=200)
    patient_link_hash: str | None = plain(default=None, max_length=128)
    created_at: datetime = created_at_field()


class Message(TenantOwned, table=True):
    """One message from or to the patient."""

    __table_args__ = (
        tenant_fk(["thread_id"], "messagethread", name="fk_message_thread", ondelete="CASCADE"),
        sa.Index("ix_message_thread", "tenant_id", "thread_id"),
    )

    thread_id: uuid.UUID
    direction: str = plain(max_length=16)
    sender_user_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    body: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=10_000)
    created_at: datetime = created_at_field()
    read_at: datetime | None = plain(default=None, sa_type=UTCDateTime)


class OutboxMessage(TenantOwned, table=True):
    """A notification waiting for (or done with) delivery by email or SMS."""

    __table_args__ = (tenant_fk(["message_id"], "message", name="fk_outbox_message"),)

    message_id: uuid.UUID | None = None
    channel: str = plain(max_length=16)
    recipient: str = personal(DataCategory.CONTACT, max_length=254)
    subject: str = personal(DataCategory.SPECIAL_CATEGORY, default="", max_length=200)
    body: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=10_000)
    status: str = plain(default=OutboxStatus.PENDING.value, max_length=16)
    attempts: int = plain(default=0)
    next_attempt_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    last_error: str | None = plain(default=None, max_length=1000)
    created_at: datetime = created_at_field()
