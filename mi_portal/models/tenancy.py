"""Platform-level tables: clinics (tenants), users and their memberships."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from mi_portal.models.base import (
    DataCategory,
    UTCDateTime,
    created_at_field,
    personal,
    plain,
    uuid7,
)


class Role(StrEnum):
    """Roles a user holds, on the platform or in one clinic."""

    PLATFORM_ADMIN = "platform_admin"
    PLATFORM_SUPPORT = "platform_support"
    CLINIC_OWNER = "clinic_owner"
    CLINIC_MANAGER = "clinic_manager"
    COORDINATOR = "coordinator"
    PROVIDER = "provider"
    VIEWER = "viewer"


PLATFORM_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.PLATFORM_SUPPORT})
CLINIC_ROLES = frozenset(set(Role) - PLATFORM_ROLES)


class Tenant(SQLModel, table=True):
    """A clinic: the controller of its patients' data."""

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    slug: str = plain(max_length=63, unique=True, index=True)
    name: str = plain(max_length=200)
    quote_turnaround_hours: int = plain(default=48)
    settings: dict[str, Any] = plain(default_factory=dict, sa_type=sa.JSON)
    active: bool = plain(default=True)
    created_at: datetime = created_at_field()


class User(SQLModel, table=True):
    """A dashboard user: clinic staff or platform staff (never a patient)."""

    __tablename__ = "user_account"  # type: ignore[assignment]

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    email: str = personal(DataCategory.CONTACT, max_length=254, unique=True, index=True)
    full_name: str = personal(DataCategory.IDENTITY, max_length=200)
    password_hash: str | None = personal(DataCategory.IDENTITY, default=None, max_length=255)
    totp_secret: str | None = personal(DataCategory.IDENTITY, default=None, max_length=64)
    platform_role: str | None = plain(default=None, max_length=32)
    disabled: bool = plain(default=False)
    last_tenant_id: uuid.UUID | None = Field(default=None, foreign_key="tenant.id")
    created_at: datetime = created_at_field()


class Membership(SQLModel, table=True):
    """A user's role in one clinic."""

    __table_args__ = (
        sa.UniqueConstraint("user_id", "tenant_id", name="uq_membership_user_tenant"),
    )

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    tenant_id: uuid.UUID = Field(foreign_key="tenant.id", index=True)
    role: str = plain(max_length=32)
    created_at: datetime = created_at_field()
    disabled_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
