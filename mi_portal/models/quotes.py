"""The clinic's treatment catalog and the priced quotes it sends."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field

from mi_portal.models.base import (
    DataCategory,
    Money,
    TenantOwned,
    UTCDateTime,
    created_at_field,
    personal,
    plain,
    tenant_fk,
)


class QuoteStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class TreatmentItem(TenantOwned, table=True):
    """A priced treatment the clinic offers."""

    name: str = plain(max_length=200)
    description: str = plain(default="", max_length=2000)
    unit_price: Decimal = plain(sa_type=Money)
    currency: str = plain(default="USD", max_length=3)
    active: bool = plain(default=True)
    created_at: datetime = created_at_field()


class Quote(TenantOwned, table=True):
    """A priced offer for one case."""

    __table_args__ = (
        tenant_fk(["submission_id"], "submission", name="fk_quote_submission"),
        sa.Index("ix_quote_submission", "tenant_id", "submission_id"),
    )

    submission_id: uuid.UUID
    status: str = plain(default=QuoteStatus.DRAFT.value, max_length=16)
    currency: str = plain(default="USD", max_length=3)
    total: Decimal = personal(DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money)
    message_to_patient: str = personal(DataCategory.SPECIAL_CATEGORY, default="", max_length=4000)
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    sent_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    valid_until: datetime | None = plain(default=None, sa_type=UTCDateTime)


class QuoteLine(TenantOwned, table=True):
    """One line of a quote; the price is copied so later catalog changes do not alter it."""

    __table_args__ = (
        tenant_fk(["quote_id"], "quote", name="fk_quoteline_quote", ondelete="CASCADE"),
        tenant_fk(["treatment_item_id"], "treatmentitem", name="fk_quoteline_item"),
    )

    quote_id: uuid.UUID
    treatment_item_id: uuid.UUID | None = None
    position: int = plain(default=0)
    description: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=500)
    quantity: int = personal(DataCategory.COMMERCIAL, default=1)
    unit_price: Decimal = personal(DataCategory.COMMERCIAL, sa_type=Money)
