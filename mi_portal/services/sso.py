"""Single sign-on: map a provider's verified identity to an existing user (never create one)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import col, select

from mi_portal.config import OidcProvider, get_settings
from mi_portal.db import bind_user, platform_session
from mi_portal.models import Membership, Tenant, User
from mi_portal.services import audit

# Authentication methods that count as a second factor done at the provider (RFC 8176).
MFA_METHODS = frozenset({"mfa", "otp", "hwk", "swk", "sms", "fpt", "face"})


class SsoRefused(Exception):
    """The identity is valid but may not sign in here (the message is safe to show)."""


def provider(name: str) -> OidcProvider | None:
    return next((p for p in get_settings().oidc_providers if p.name == name), None)


def user_for_claims(
    prov: OidcProvider, claims: dict[str, Any], *, ip: str | None, user_agent: str | None
) -> tuple[uuid.UUID, uuid.UUID | None, bool]:
    """The user behind verified ID-token claims: (user id, clinic to open, provider did MFA)."""
    email = str(claims.get("email") or "").strip().lower()
    if not email or claims.get("email_verified") is not True:
        _refuse(prov, None, "unverified_email", ip, user_agent)
    with platform_session() as session:
        user = session.exec(select(User).where(User.email == email)).first()
        if user is None or user.disabled:
            _refuse(prov, None, "no_account", ip, user_agent)
        assert user is not None
        tenant_id: uuid.UUID | None = None
        if prov.scope == "platform":
            if not user.platform_role:
                _refuse(prov, user.id, "not_platform_staff", ip, user_agent)
        else:
            # The provider has vouched for this email: its memberships may now be read.
            bind_user(session, user.id)
            row = session.exec(
                select(Membership.tenant_id)
                .join(Tenant, Tenant.id == Membership.tenant_id)  # type: ignore[arg-type]
                .where(
                    Membership.user_id == user.id,
                    Tenant.slug == prov.scope,
                    col(Membership.disabled_at).is_(None),
                    Tenant.active,
                )
            ).first()
            if row is None:
                _refuse(prov, user.id, "not_a_member", ip, user_agent)
            tenant_id = row
            user.last_tenant_id = tenant_id
            session.add(user)
            session.commit()
        user_id = user.id
    amr = claims.get("amr") or []
    did_mfa = isinstance(amr, list) and bool(MFA_METHODS.intersection(str(m) for m in amr))
    return user_id, tenant_id, did_mfa


def _refuse(
    prov: OidcProvider, user_id: uuid.UUID | None, why: str, ip: str | None, user_agent: str | None
) -> None:
    audit.record(
        None,
        "auth.sso",
        user_id=user_id,
        platform=True,
        outcome="failed",
        details={"provider": prov.name, "reason": why},
        ip=ip,
        user_agent=user_agent,
    )
    raise SsoRefused(
        "This account cannot sign in with single sign-on here. Ask your clinic's owner."
    )
