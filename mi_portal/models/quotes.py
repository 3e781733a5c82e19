"""The clinic's treatment catalog and the priced quotes it sends.

Amounts are exact decimals (``Money``: two decimal places, so clinics price in currencies whose
minor unit is at most a cent). A quote is one *version*: editing a sent quote makes the next
version of the same case and marks the earlier one superseded. Every amount a version shows is
stored beside its inputs, computed by ``services.quote_math.compute`` alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

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
    VIEWED = "viewed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    SUPERSEDED = "superseded"


# Quote statuses the patient can still answer.
OPEN_QUOTE_STATUSES = frozenset({QuoteStatus.SENT, QuoteStatus.VIEWED})


class AdjustKind(StrEnum):
    """How a discount or a deposit is given: none, a fixed amount, or a percentage."""

    NONE = ""
    AMOUNT = "amount"
    PERCENT = "percent"


class Rate(sa.types.TypeDecorator[Decimal]):
    """Exact percentages (NUMERIC(7,4): 0.0000 to 999.9999); text on SQLite, as ``Money``."""

    impl = sa.Numeric(7, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect):  # type: ignore[no-untyped-def]
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(16))
        return dialect.type_descriptor(sa.Numeric(7, 4))

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        if value is None:
            return None
        value = Decimal(value)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        return None if value is None else Decimal(value)


class TaxClass(TenantOwned, table=True):
    """A tax rate the clinic applies to some of its treatments (for example "VAT 20 %")."""

    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_taxclass_name"),)

    name: str = plain(max_length=80)
    rate: Decimal = plain(sa_type=Rate)  # percent, e.g. 20.0000
    active: bool = plain(default=True)
    created_at: datetime = created_at_field()


class TreatmentItem(TenantOwned, table=True):
    """A priced treatment the clinic offers."""

    __table_args__ = (
        tenant_fk(["tax_class_id"], "taxclass", name="fk_treatmentitem_tax"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_treatmentitem_name"),
    )

    name: str = plain(max_length=200)
    description: str = plain(default="", max_length=2000)
    category: str = plain(default="", max_length=80)
    unit_label: str = plain(default="session", max_length=40)
    unit_price: Decimal = plain(sa_type=Money)
    # The price is a starting price ("from 250.00"): the quote line sets the real one.
    price_from: bool = plain(default=False)
    tax_class_id: uuid.UUID | None = None
    currency: str = plain(default="USD", max_length=3)
    active: bool = plain(default=True)
    created_at: datetime = created_at_field()


class TreatmentPackage(TenantOwned, table=True):
    """Several catalog items sold together at one package price."""

    __table_args__ = (
        tenant_fk(["tax_class_id"], "taxclass", name="fk_treatmentpackage_tax"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_treatmentpackage_name"),
    )

    name: str = plain(max_length=200)
    description: str = plain(default="", max_length=2000)
    price: Decimal = plain(sa_type=Money)
    tax_class_id: uuid.UUID | None = None
    active: bool = plain(default=True)
    created_at: datetime = created_at_field()


class PackageItem(TenantOwned, table=True):
    """One catalog item inside a package, with how many of it."""

    __table_args__ = (
        tenant_fk(
            ["package_id"], "treatmentpackage", name="fk_packageitem_package", ondelete="CASCADE"
        ),
        tenant_fk(["treatment_item_id"], "treatmentitem", name="fk_packageitem_item"),
        sa.Index("ix_packageitem_package", "tenant_id", "package_id"),
    )

    package_id: uuid.UUID
    treatment_item_id: uuid.UUID
    quantity: int = plain(default=1)
    position: int = plain(default=0)


class Quote(TenantOwned, table=True):
    """One version of the priced offer for a case."""

    __table_args__ = (
        tenant_fk(["submission_id"], "submission", name="fk_quote_submission"),
        sa.Index("ix_quote_submission", "tenant_id", "submission_id"),
        sa.UniqueConstraint("tenant_id", "submission_id", "version", name="uq_quote_version"),
        sa.Index("ix_quote_open", "tenant_id", "status", "valid_until"),
    )

    submission_id: uuid.UUID
    version: int = plain(default=1)
    status: str = plain(default=QuoteStatus.DRAFT.value, max_length=16)
    currency: str = plain(default="USD", max_length=3)
    locale: str = plain(default="en_US", max_length=16)
    discount_kind: str = plain(default="", max_length=8)
    discount_value: Decimal = plain(default=Decimal("0"), sa_type=Money)
    deposit_kind: str = plain(default="", max_length=8)
    deposit_value: Decimal = plain(default=Decimal("0"), sa_type=Money)
    # Computed by quote_math.compute from the lines and the fields above; never typed.
    subtotal: Decimal = personal(DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money)
    discount_total: Decimal = personal(
        DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money
    )
    tax_total: Decimal = personal(DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money)
    total: Decimal = personal(DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money)
    deposit: Decimal = personal(DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money)
    message_to_patient: str = personal(DataCategory.SPECIAL_CATEGORY, default="", max_length=4000)
    terms: str = plain(default="", max_length=4000)
    # A draft's form exactly as typed (saved as staff type, valid or not, so nothing is lost on a
    # reload); the lines and amounts above are written from it whenever it is valid.
    form: dict[str, Any] = personal(
        DataCategory.SPECIAL_CATEGORY, default_factory=dict, sa_type=sa.JSON
    )
    created_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    sent_by_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = created_at_field()
    updated_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    valid_until: datetime | None = plain(default=None, sa_type=UTCDateTime)
    viewed_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # When the quote left the open states (accepted, declined, expired, withdrawn, superseded).
    closed_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # The acceptance: the typed name, where from, and the digest of the exact content accepted.
    accepted_name: str | None = personal(DataCategory.IDENTITY, default=None, max_length=200)
    accepted_ip: str | None = personal(DataCategory.DEVICE_NETWORK, default=None, max_length=64)
    accepted_user_agent: str | None = personal(
        DataCategory.DEVICE_NETWORK, default=None, max_length=400
    )
    content_sha256: str | None = plain(default=None, max_length=64)
    decline_reason: str | None = personal(DataCategory.USER_CONTENT, default=None, max_length=1000)


class QuoteLine(TenantOwned, table=True):
    """One line of a quote; prices and rates are copied so later catalog changes do not alter it."""

    __table_args__ = (
        tenant_fk(["quote_id"], "quote", name="fk_quoteline_quote", ondelete="CASCADE"),
        tenant_fk(["treatment_item_id"], "treatmentitem", name="fk_quoteline_item"),
        tenant_fk(["package_id"], "treatmentpackage", name="fk_quoteline_package"),
        sa.Index("ix_quoteline_quote", "tenant_id", "quote_id", "position"),
    )

    quote_id: uuid.UUID
    treatment_item_id: uuid.UUID | None = None
    package_id: uuid.UUID | None = None
    position: int = plain(default=0)
    description: str = personal(DataCategory.SPECIAL_CATEGORY, max_length=500)
    unit_label: str = plain(default="", max_length=40)
    quantity: int = personal(DataCategory.COMMERCIAL, default=1)
    unit_price: Decimal = personal(DataCategory.COMMERCIAL, sa_type=Money)
    discount_kind: str = plain(default="", max_length=8)
    discount_value: Decimal = plain(default=Decimal("0"), sa_type=Money)
    tax_name: str = plain(default="", max_length=80)
    tax_rate: Decimal = plain(default=Decimal("0"), sa_type=Rate)
    # Computed (quote_math.compute): before discount, the discount, net, tax and total.
    gross: Decimal = personal(DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money)
    line_discount: Decimal = personal(
        DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money
    )
    net: Decimal = personal(DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money)
    tax: Decimal = personal(DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money)
    line_total: Decimal = personal(DataCategory.COMMERCIAL, default=Decimal("0.00"), sa_type=Money)
