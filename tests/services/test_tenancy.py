"""Picking a clinic, and platform staff switching into one with a reason for at most an hour."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from mi_portal.models import AuditEvent
from mi_portal.services import auth, clock, tenancy
from mi_portal.services.actor import NotFound, PermissionDenied
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token
from tests.services.test_auth import Clock


@pytest.fixture
def fake_clock() -> Iterator[Clock]:
    c = Clock()
    clock.set_clock(c)
    yield c
    clock.set_clock(None)


def test_clinic_user_with_two_clinics_picks_and_it_is_remembered(db: Database) -> None:
    a, b, c = make_tenant("clinic-a"), make_tenant("clinic-b"), make_tenant("clinic-c")
    user_id, _ = make_user("locum@example.org", role="provider", tenants=(a, b))
    signed = auth.resolve(sign_in_token(user_id))
    assert signed is not None and signed.actor.tenant_id is None  # must pick first
    assert tenancy.choose_clinic(signed, str(b)) == "Clinic-B"
    signed = auth.resolve(sign_in_token(user_id))  # a new sign-in remembers the clinic
    assert signed is not None and signed.actor.tenant_id == b
    with pytest.raises(NotFound):
        tenancy.choose_clinic(signed, str(c))  # not a member: same answer as a missing clinic
    with pytest.raises(NotFound):
        tenancy.choose_clinic(signed, "not-a-uuid")


def test_platform_switch_needs_a_reason_and_expires(db: Database, fake_clock: Clock) -> None:
    a = make_tenant("clinic-a")
    user_id, _ = make_user("support@example.org", platform_role="platform_support")
    token = sign_in_token(user_id)
    signed = auth.resolve(token)
    assert signed is not None and signed.actor.tenant_id is None
    with pytest.raises(ValueError):
        tenancy.switch_into(signed, str(a), "because")
    with pytest.raises(PermissionDenied):
        tenancy.choose_clinic(signed, str(a))
    tenancy.switch_into(signed, str(a), "Ticket 42: clinic asked for help")
    for _ in range(5):
        fake_clock.advance(minutes=11)
        signed = auth.resolve(token)
        assert signed is not None and signed.actor.tenant_id == a
        assert signed.switch_reason == "Ticket 42: clinic asked for help"
    fake_clock.advance(minutes=6)
    signed = auth.resolve(token)
    assert signed is not None and signed.actor.tenant_id is None
    with owner_session() as session:
        events = session.exec(
            select(AuditEvent.chain, AuditEvent.action, AuditEvent.reason).order_by(
                AuditEvent.occurred_at
            )
        ).all()
    switched = [(chain, reason) for chain, action, reason in events if action == "tenant.switch_in"]
    assert sorted(chain for chain, _ in switched) == sorted([str(a), "platform"])
    assert all(reason == "Ticket 42: clinic asked for help" for _, reason in switched)
    assert {chain for chain, action, _ in events if action == "tenant.switch_expired"} == {
        str(a),
        "platform",
    }


def test_switch_out_is_audited_in_both_chains(db: Database) -> None:
    a = make_tenant("clinic-a")
    user_id, _ = make_user("admin@example.org", platform_role="platform_admin")
    token = sign_in_token(user_id)
    signed = auth.resolve(token)
    assert signed is not None
    tenancy.switch_into(signed, str(a), "Onboarding check of settings")
    signed = auth.resolve(token)
    assert signed is not None
    tenancy.switch_out(signed)
    signed = auth.resolve(token)
    assert signed is not None and signed.actor.tenant_id is None
    with owner_session() as session:
        chains = session.exec(
            select(AuditEvent.chain).where(AuditEvent.action == "tenant.switch_out")
        ).all()
    assert sorted(chains) == sorted([str(a), "platform"])


def test_clinic_user_cannot_switch(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    user_id, _ = make_user("owner@example.org", role="clinic_owner", tenants=(a,))
    signed = auth.resolve(sign_in_token(user_id))
    assert signed is not None
    with pytest.raises(PermissionDenied):
        tenancy.switch_into(signed, str(b), "I would like to look around")
