"""A clinic's first owner is provisioned from the platform, recorded in both audit chains."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import col, select

from mi_portal.jobs.cli import main
from mi_portal.models import AuditEvent, Membership, Role, User
from mi_portal.services import audit, onboarding, users
from mi_portal.services.actor import Actor, PermissionDenied
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session


def _admin(tenant_id: uuid.UUID | None = None) -> Actor:
    admin_id, _ = make_user(f"admin-{uuid.uuid4().hex[:6]}@mi.test", platform_role="platform_admin")
    return Actor(user_id=admin_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id)


def _events(action: str) -> list[tuple[str, str, str | None]]:
    with owner_session() as session:
        return [
            (e.chain, e.outcome, e.target_id)
            for e in session.exec(
                select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
            )
        ]


def _owners(tenant_id: uuid.UUID) -> list[str]:
    with owner_session() as session:
        return list(
            session.exec(
                select(User.email)
                .join(Membership, col(Membership.user_id) == User.id)
                .where(
                    Membership.tenant_id == tenant_id, Membership.role == Role.CLINIC_OWNER.value
                )
            )
        )


def test_first_owner_is_written_to_both_chains(db: Database) -> None:
    a = make_tenant("clinic-a")
    admin = _admin()
    token = onboarding.provision_first_owner(
        actor=admin, tenant_id=a, email="Owner@Clinic-A.test", full_name="Olive Owner"
    )
    assert token and _owners(a) == ["owner@clinic-a.test"]
    events = _events(onboarding.ACTION)
    assert sorted(chain for chain, _, _ in events) == sorted(["platform", str(a)])
    assert {outcome for _, outcome, _ in events} == {"ok"}
    assert audit.verify_chain("platform") is None and audit.verify_chain(str(a)) is None
    # The new owner sets a password with the link like any invited person.
    assert users.accept_invite(token, "violet kettle harbour") == []


def test_first_owner_is_refused_when_the_clinic_has_an_owner(db: Database) -> None:
    a = make_tenant("clinic-a")
    make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    with pytest.raises(onboarding.OwnerExists):
        onboarding.provision_first_owner(
            actor=_admin(), tenant_id=a, email="second@a.test", full_name="Second Owner"
        )
    assert _owners(a) == ["owner@a.test"]
    assert _events(onboarding.ACTION) == [("platform", "denied", str(a))]


def test_first_owner_only_by_a_platform_admin_outside_any_clinic(db: Database) -> None:
    a = make_tenant("clinic-a")
    support_id, _ = make_user("support@mi.test", platform_role="platform_support")
    owner_b = Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=make_tenant("clinic-b"))
    for actor in (
        _admin(tenant_id=a),  # switched in: that is exactly what must not create owners
        Actor(user_id=support_id, role=Role.PLATFORM_SUPPORT),
        owner_b,
    ):
        with pytest.raises(PermissionDenied):
            onboarding.provision_first_owner(
                actor=actor, tenant_id=a, email="x@a.test", full_name="X Person"
            )
    assert _owners(a) == []


def test_cli_provisions_the_first_owner_once(db: Database, capsys: pytest.CaptureFixture) -> None:
    a = make_tenant("clinic-a")
    args = ["clinic", "provision-owner", "clinic-a", "--email", "boss@a.test", "--name", "Bo Ss"]
    assert main(args) == 0
    assert "set-password link" in capsys.readouterr().out
    assert _owners(a) == ["boss@a.test"]
    assert main(args) == 1
    assert "already has an owner" in capsys.readouterr().out
    assert main(["clinic", "provision-owner", "nope", "--email", "x@a.test", "--name", "X"]) == 2
