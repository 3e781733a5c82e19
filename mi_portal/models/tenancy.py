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


class TenantStatus(StrEnum):
    """A clinic's life cycle. Only an active clinic is open to its staff and its patients.

    ``active`` on the row mirrors ``status == "active"``; the row itself is never deleted, so a
    slug is never reused.
    """

    ACTIVE = "active"
    SUSPENDED = "suspended"  # staff and patients refused; every row kept untouched
    OFFBOARDING = "offboarding"  # closed to everyone; exported, waiting for its purge
    CLOSED = "closed"  # purged: only the row (and its slug) remains


class Tenant(SQLModel, table=True):
    """A clinic: the controller of its patients' data."""

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    slug: str = plain(max_length=63, unique=True, index=True)
    name: str = plain(max_length=200)
    status: str = plain(default=TenantStatus.ACTIVE.value, max_length=16)
    # Why it was suspended or off-boarded (platform staff's words; never shown to patients).
    status_reason: str = plain(default="", max_length=1000)
    status_changed_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # IANA zone name: every date and time the clinic's staff read is shown in it.
    timezone: str = plain(default="UTC", max_length=64)
    # Where the clinic is (a rights_deadlines.JURISDICTIONS code, "" when not set).
    jurisdiction: str = plain(default="", max_length=8)
    # The clinic's own public contact details (a business's, not a person's).
    contact_email: str = plain(default="", max_length=254)
    contact_phone: str = plain(default="", max_length=32)
    address: str = plain(default="", max_length=500)
    # Patient pages: "#rrggbb" ("" = the product's colours) and the logo's object key.
    brand_color: str = plain(default="", max_length=7)
    logo_key: str | None = plain(default=None, max_length=300)
    # SLA targets, counted in business time: first reply to the patient, and the quote.
    first_response_hours: int = plain(default=24)
    quote_turnaround_hours: int = plain(default=48)
    # Opening hours per weekday {"mon": ["09:00", "17:00"], ...}: a missing day is closed;
    # an empty mapping counts every hour of every day. Closed days are ISO dates.
    business_hours: dict[str, Any] = plain(default_factory=dict, sa_type=sa.JSON)
    closed_days: list[str] = plain(default_factory=list, sa_type=sa.JSON)
    # Money on quotes: ISO 4217 code (minor unit of at most two digits) and the babel locale.
    currency: str = plain(default="USD", max_length=3)
    locale: str = plain(default="en_US", max_length=16)
    # Quotes: how long a sent quote stays valid by default, and the clinic's standard terms.
    quote_valid_days: int = plain(default=30)
    quote_terms: str = plain(default="", max_length=4000)
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
    # Encrypted with the app's secret key (Fernet), never stored in clear.
    totp_secret: str | None = personal(DataCategory.IDENTITY, default=None, max_length=255)
    totp_enabled_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # The last accepted TOTP time step: a code is never accepted twice.
    totp_last_step: int | None = plain(default=None)
    # Set when a platform admin reset a lost second factor: enrolment starts again at sign-in.
    mfa_reset_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    # One-time link for an invited user to set a password (hash only; expires).
    invite_token_hash: str | None = plain(default=None, max_length=64, unique=True)
    invite_expires_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    failed_logins: int = plain(default=0)
    locked_until: datetime | None = plain(default=None, sa_type=UTCDateTime)
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


class UserSession(SQLModel, table=True):
    """A signed-in browser. The browser holds only an opaque token; its hash is stored here."""

    __tablename__ = "user_session"  # type: ignore[assignment]

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    token_hash: str | None = plain(default=None, max_length=64, unique=True)
    # A one-time ticket the sign-in page hands to the cookie-setting HTTP route.
    ticket_hash: str | None = plain(default=None, max_length=64, unique=True)
    ticket_expires_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    mfa_passed: bool = plain(default=False)
    # Set for single-sign-on sessions: the provider's reach ("platform" or one clinic's id).
    # A clinic's provider vouches for that clinic only, never for the user's other clinics.
    sso_scope: str | None = plain(default=None, max_length=64)
    created_at: datetime = created_at_field()
    last_seen_at: datetime = created_at_field()
    expires_at: datetime = plain(sa_type=UTCDateTime, nullable=False)
    revoked_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    active_tenant_id: uuid.UUID | None = Field(default=None, foreign_key="tenant.id")
    switch_reason: str | None = personal(DataCategory.USER_CONTENT, default=None, max_length=500)
    switch_expires_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    ip: str | None = personal(DataCategory.DEVICE_NETWORK, default=None, max_length=64)
    user_agent: str | None = personal(DataCategory.DEVICE_NETWORK, default=None, max_length=400)


class RecoveryCode(SQLModel, table=True):
    """A one-time second-factor recovery code (stored hashed)."""

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    code_hash: str = personal(DataCategory.IDENTITY, max_length=128)
    used_at: datetime | None = plain(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
