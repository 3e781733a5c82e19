"""Building blocks shared by every table: ids, UTC times, money, data categories."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

# Stable constraint names, so that migrations can refer to them on every database.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class DataCategory(StrEnum):
    """Categories of personal data named in the published privacy policy."""

    IDENTITY = "identity"
    CONTACT = "contact"
    COMMERCIAL = "commercial"
    DEVICE_NETWORK = "device_network"
    HEALTH_IMAGE = "health_image"
    INFERENCE = "inference"
    SPECIAL_CATEGORY = "special_category"
    USER_CONTENT = "user_content"


# Marks a column as reviewed and holding no personal data.
NOT_PERSONAL = "not_personal"


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of milliseconds, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite returns naive ones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(sa.types.TypeDecorator[Decimal]):
    """Exact decimal amounts: NUMERIC(14,2) on PostgreSQL, text on SQLite (no float on the way)."""

    impl = sa.Numeric(14, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(32))
        return dialect.type_descriptor(sa.Numeric(14, 2))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        q = Decimal(value).quantize(Decimal("0.01"))
        return str(q) if dialect.name == "sqlite" else q

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(Decimal("0.01"))


def personal(category: DataCategory, **kwargs: Any) -> Any:
    """A field holding personal data of ``category`` (recorded in the column's info)."""
    return _field(category.value, **kwargs)


def plain(**kwargs: Any) -> Any:
    """A field reviewed as holding no personal data."""
    return _field(NOT_PERSONAL, **kwargs)


def _field(category: str, **kwargs: Any) -> Any:
    column_kwargs = dict(kwargs.pop("sa_column_kwargs", {}) or {})
    column_kwargs["info"] = {**column_kwargs.get("info", {}), "category": category}
    return Field(sa_column_kwargs=column_kwargs, **kwargs)


def created_at_field() -> Any:
    return plain(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class TenantOwned(SQLModel):
    """Base of every tenant-owned table: primary key ``(tenant_id, id)``.

    ``tenant_id`` is never taken from input: the session's tenant scope fills it at flush.
    """

    tenant_id: uuid.UUID = Field(
        default=None, primary_key=True, foreign_key="tenant.id", ondelete="RESTRICT"
    )
    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)


def tenant_fk(
    columns: list[str], target: str, *, name: str, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    """A foreign key to another tenant-owned table that includes ``tenant_id``."""
    return sa.ForeignKeyConstraint(
        ["tenant_id", *columns],
        [f"{target}.tenant_id", f"{target}.id"],
        name=name,
        ondelete=ondelete,
    )


def tenant_models() -> list[type[TenantOwned]]:
    """Every mapped tenant-owned table class."""
    found: list[type[TenantOwned]] = []
    stack: list[type] = [TenantOwned]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if hasattr(sub, "__table__"):
                found.append(sub)
    return sorted(found, key=lambda c: c.__tablename__)  # type: ignore[arg-type]
