"""Conversations with patients and the outbox that delivers them."""

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
    uuid7,
)


class MessageDirection(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageChannel(StrEnum):
    """How a message travelled: by email, by SMS, or typed on the patient's reply page."""

    EMAIL = "email"
    SMS = "sms"
    PORTAL = "portal"


class OutboxStatus(StrEnum):
    """Where one delivery is: queued → claimed → sending → sent → delivered, or failed."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class OutboxKind(StrEnum):
    """Why the product sends it: a message in a case's thread, a notice to staff, a reply
    the product makes itself (an opt-out acknowledgement, a help text)."""

    PATIENT_MESSAGE = "patient_message"
    STAFF_NOTICE = "staff_notice"
    AUTO_REPLY = "auto_reply"
    # Privacy-rights requests: codes, acknowledgements, answers and access-package links.
    RIGHTS_NOTICE = "rights_notice"


def new_header_id() -> str:
    """A fresh RFC 5322 Message-ID (time-ordered, so ids sort the way rows were queued)."""
    return f"<{uuid7().hex}@mi-portal.outbox>"


class MessageThread(TenantOwned, table=True):
    """The conversation about one case."""

    __table_args__ = (
        tenant_fk(["submission_id"], "submission", name="fk_thread_submission", ondelete="CASCADE"),
        # One conversation per case: a concurrent first message cannot open a second one.
        sa.Index("ix_messagethread_submission", "tenant_id", "submission_id", unique=True),
        sa.Index("ix_messagethread_last", "tenant_id", "last_message_at"),
        sa.Index("ix_messagethread_link", "tenant_id", "patient_link_hash"),
    )

    submission_id: uuid.UUID
    subject: str = personal(DataCategory.SPECIAL_CATEGORY, default="", max_length=200)
    # sha256 of the current reply key (derived from the secret key, never stored): a new key
    # (a new link) retires every earlier one.
    patient_link_hash: str | None = plain(default=None, max_length=128)
    created_at: datetime = created_at_field()
    last_message_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # Direction of the latest message: "outbound" means the clinic waits for the patient.
    last_direction: str | None = plain(default=None, max_length=16)


class Message(TenantOwned, table=True):
    """One message from or to the patient."""

    __table_args__ = (
        tenant_fk(["thread_id"], "messagethread", name="fk_message_thread", ondelete="CASCADE"),
        sa.Index("ix_message_thread", "tenant_id", "thread_id"),
        # The clinic dashboard's message volume over a date range.
        sa.Index("ix_message_created", "tenant_id", "created_at"),
        # An inbound email or SMS is stored once, however often the provider posts it.
        sa.UniqueConstraint("tenant_id", "external_id", name="uq_message_external"),
    )

    thread_id: uuid.UUID
    direction: str = plain(max_length=16)
    channel: str = plain(default=MessageChannel.EMAIL.value, max_length=16)
    sender_user_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    template_id: uuid.UUID | None = plain(default=None)
    subject: str = personal(DataCategory.SPECIAL_CATEGORY, default="", max_length=200)
    body: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=10_000)
    # The provider's id of an inbound message (email Message-ID, SMS sid): deduplication only.
    external_id: str | None = plain(default=None, max_length=300)
    created_at: datetime = created_at_field()
    read_at: datetime | None = plain(default=None, sa_type=UTCDateTime)


class ThreadRead(TenantOwned, table=True):
    """How far one staff user has read one thread: inbound messages after it are unread."""

    __table_args__ = (
        tenant_fk(["thread_id"], "messagethread", name="fk_threadread_thread", ondelete="CASCADE"),
        sa.UniqueConstraint("tenant_id", "thread_id", "user_id", name="uq_threadread_user"),
        sa.Index("ix_threadread_user", "tenant_id", "user_id"),
    )

    thread_id: uuid.UUID
    user_id: uuid.UUID = Field(foreign_key="user_account.id")
    read_until: datetime = plain(sa_type=UTCDateTime, nullable=False)


class MessageAttachment(TenantOwned, table=True):
    """A photo (through the image pipeline) or a PDF sent with a message."""

    __table_args__ = (
        tenant_fk(["message_id"], "message", name="fk_attachment_message", ondelete="CASCADE"),
        sa.Index("ix_messageattachment_message", "tenant_id", "message_id"),
        # A case photo sent with messages: found when retention removes the photo.
        sa.Index("ix_messageattachment_image", "tenant_id", "image_id"),
    )

    message_id: uuid.UUID
    kind: str = plain(max_length=16)  # "photo" or "pdf"
    # A photo is a case photo (its renditions are the pipeline's); a PDF is one stored object.
    image_id: uuid.UUID | None = plain(default=None)
    display_name: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=200)
    content_type: str = plain(max_length=64)
    byte_size: int = plain(default=0)
    sha256: str = personal(DataCategory.HEALTH_IMAGE, default="", max_length=64)
    storage_key: str | None = personal(DataCategory.HEALTH_IMAGE, default=None, max_length=300)
    created_at: datetime = created_at_field()


class MessageTemplate(TenantOwned, table=True):
    """A clinic's reusable message, rendered with the sandboxed template engine."""

    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_messagetemplate_name"),)

    name: str = plain(max_length=100)
    channel: str = plain(default=MessageChannel.EMAIL.value, max_length=16)
    subject: str = plain(default="", max_length=200)
    body: str = plain(max_length=5_000)
    marketing: bool = plain(default=False)
    active: bool = plain(default=True)
    updated_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime = created_at_field()


class NotificationPreference(TenantOwned, table=True):
    """Whether one staff user wants one kind of notice from one clinic (default: yes)."""

    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "user_id", "kind", name="uq_notificationpreference"),
    )

    user_id: uuid.UUID = Field(foreign_key="user_account.id")
    kind: str = plain(max_length=32)
    enabled: bool = plain(default=True)


class DeliveryState(SQLModel):
    """Where one delivery is, for the outbox worker (shared by the clinics' and the platform's
    outbox tables)."""

    # The email's Message-ID (and the SMS's idempotency key): one per row, never reused.
    header_id: str = plain(default_factory=lambda: new_header_id(), max_length=200)
    reply_to: str | None = plain(default=None, max_length=300)
    status: str = plain(default=OutboxStatus.PENDING.value, max_length=16)
    attempts: int = plain(default=0)
    next_attempt_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = plain(default=None, max_length=100)
    claimed_until: datetime | None = plain(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    provider_ref: str | None = plain(default=None, max_length=200)
    last_error: str | None = plain(default=None, max_length=1000)
    created_at: datetime = created_at_field()


class OutboxMessage(DeliveryState, TenantOwned, table=True):
    """One delivery by email or SMS, written in the transaction that decided to send it."""

    __table_args__ = (
        tenant_fk(["message_id"], "message", name="fk_outbox_message"),
        sa.Index("ix_outbox_due", "tenant_id", "status", "next_attempt_at"),
        sa.Index("ix_outbox_message", "tenant_id", "message_id"),
        # The clinic dashboard's deliveries and failures over a date range.
        sa.Index("ix_outbox_created", "tenant_id", "created_at"),
        sa.UniqueConstraint("tenant_id", "header_id", name="uq_outbox_header_id"),
    )

    message_id: uuid.UUID | None = None
    kind: str = plain(default=OutboxKind.PATIENT_MESSAGE.value, max_length=32)
    channel: str = plain(max_length=16)
    recipient: str = personal(DataCategory.CONTACT, max_length=254)
    subject: str = personal(DataCategory.SPECIAL_CATEGORY, default="", max_length=200)
    body: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=10_000)
    html_body: str | None = personal(DataCategory.SPECIAL_CATEGORY, default=None)


class PlatformOutboxMessage(DeliveryState, table=True):
    """One delivery the platform itself sends (a rights request's code or answer), outside any
    clinic: the same columns and life cycle as ``OutboxMessage``, delivered by the same worker."""

    __tablename__ = "platformoutbox"  # type: ignore[assignment]
    __table_args__ = (
        sa.Index("ix_platformoutbox_due", "status", "next_attempt_at"),
        sa.UniqueConstraint("header_id", name="uq_platformoutbox_header_id"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    kind: str = plain(default=OutboxKind.RIGHTS_NOTICE.value, max_length=32)
    channel: str = plain(max_length=16)
    recipient: str = personal(DataCategory.CONTACT, max_length=254)
    subject: str = personal(DataCategory.USER_CONTENT, default="", max_length=200)
    body: str = personal(DataCategory.USER_CONTENT, max_length=10_000)
    html_body: str | None = personal(DataCategory.USER_CONTENT, default=None)
