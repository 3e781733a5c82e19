"""Users and memberships of a clinic: another clinic's member answers like a missing one."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from mi_portal.db import platform_session
from mi_portal.models import AuditEvent, Membership, Role, User
from mi_portal.services import users
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.passwords import verify_password
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session


def _member_id(user_id: uuid.UUID, tenant_id: uuid.UUID) -> str:
    with owner_session() as session:
        return str(
            session.exec(
                select(Membership.id).where(
                    Membership.user_id == user_id, Membership.tenant_id == tenant_id
                )
            ).one()
        )


@pytest.fixture
def world(db: Database):  # type: ignore[no-untyped-def]
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    owner_a, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    staff_a, _ = make_user("staff@a.test", role="coordinator", tenants=(a,))
    staff_b, _ = make_user("staff@b.test", role="coordinator", tenants=(b,))
    owner = Actor(user_id=owner_a, role=Role.CLINIC_OWNER, tenant_id=a, home_tenant_id=a)
    return a, b, owner, _member_id(staff_a, a), _member_id(staff_b, b), _member_id(owner_a, a)


def test_list_shows_only_this_clinic(world) -> None:  # type: ignore[no-untyped-def]
    a, b, owner, *_ = world
    emails = [m.email for m in users.list_members(owner)]
    assert sorted(emails) == ["owner@a.test", "staff@a.test"]  # never clinic B's member


def test_foreign_and_missing_members_answer_the_same(world) -> None:  # type: ignore[no-untyped-def]
    a, b, owner, staff_a, staff_b, _ = world
    for target in (staff_b, str(uuid.uuid4()), "garbage", {"id": staff_b}):
        with pytest.raises(NotFound) as exc:
            users.change_role(owner, target, "viewer")
        assert str(exc.value) == "membership"
        with pytest.raises(NotFound):
            users.set_member_active(owner, target, False)
    with owner_session() as session:
        foreign = session.get(Membership, uuid.UUID(staff_b))
        assert foreign is not None and foreign.role == "coordinator" and foreign.disabled_at is None


def test_change_role_and_disable_are_audited(world) -> None:  # type: ignore[no-untyped-def]
    a, b, owner, staff_a, *_ = world
    users.change_role(owner, staff_a, "clinic_manager")
    users.set_member_active(owner, staff_a, False)
    with owner_session() as session:
        events = session.exec(
            select(AuditEvent.action, AuditEvent.details).where(AuditEvent.chain == str(a))
        ).all()
    assert ("user.role_changed", {"from": "coordinator", "to": "clinic_manager"}) in events
    assert "user.disabled" in [e for e, _ in events]


def test_roles_are_limited_to_clinic_roles(world) -> None:  # type: ignore[no-untyped-def]
    a, b, owner, staff_a, *_ = world
    for bad in ("platform_admin", "root", ""):
        with pytest.raises(ValueError):
            users.change_role(owner, staff_a, bad)
    manager = Actor(user_id=None, role=Role.CLINIC_MANAGER, tenant_id=a)
    with pytest.raises(PermissionDenied):
        users.change_role(manager, staff_a, "viewer")  # managers cannot manage users at all


def test_last_owner_cannot_be_removed(world) -> None:  # type: ignore[no-untyped-def]
    a, b, owner, staff_a, staff_b, owner_member = world
    with pytest.raises(ValueError, match="at least one owner"):
        users.change_role(owner, owner_member, "viewer")
    with pytest.raises(ValueError):
        users.set_member_active(owner, owner_member, False)


def test_invite_creates_account_with_one_time_password_link(world) -> None:  # type: ignore[no-untyped-def]
    a, b, owner, *_ = world
    token = users.invite(
        owner, email="New.Person@Example.org", full_name=" New  Person ", role="provider"
    )
    assert token
    with pytest.raises(ValueError):
        users.invite(owner, email="new.person@example.org", full_name="New Person", role="provider")
    assert users.accept_invite(token, "short") != []
    assert users.accept_invite(token, "newperson is great") != []  # contains the email's name
    assert users.accept_invite(token, "violet kettle harbour") == []
    assert users.accept_invite(token, "violet kettle harbour") != []  # once only
    with platform_session() as session:
        user = session.exec(select(User).where(User.email == "new.person@example.org")).one()
        assert user.full_name == "New Person" and verify_password(
            user.password_hash, "violet kettle harbour"
        )
    # Existing accounts are added without a new password link.
    assert users.invite(owner, email="staff@b.test", full_name="Staff B", role="viewer") is None


def test_invite_refuses_bad_input(world) -> None:  # type: ignore[no-untyped-def]
    a, b, owner, *_ = world
    for email, name, role in (
        ("not-an-email", "X", "viewer"),
        ("x@example.org", "", "viewer"),
        ("x@example.org", "X", "platform_admin"),
    ):
        with pytest.raises(ValueError):
            users.invite(owner, email=email, full_name=name, role=role)


def _switched_in_admin(tenant_id: uuid.UUID) -> Actor:
    admin_id, _ = make_user("admin@mi.test", platform_role="platform_admin")
    return Actor(user_id=admin_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id)


def test_switched_in_platform_staff_cannot_invite(world) -> None:  # type: ignore[no-untyped-def]
    a, b, owner, *_ = world
    admin = _switched_in_admin(a)
    for email, role in (("new@a.test", "clinic_owner"), ("staff@b.test", "viewer")):
        with pytest.raises(users.SwitchedInGrantRefused):
            users.invite(admin, email=email, full_name="Someone", role=role)
    with owner_session() as session:
        assert session.exec(select(User).where(User.email == "new@a.test")).first() is None
        members = session.exec(select(Membership.id).where(Membership.tenant_id == a)).all()
        denied = session.exec(
            select(AuditEvent.action).where(
                AuditEvent.chain == str(a), AuditEvent.outcome == "denied"
            )
        ).all()
    assert len(members) == 2 and denied == ["user.invited", "user.invited"]


def test_switched_in_platform_staff_cannot_raise_roles_or_restore_access(world) -> None:  # type: ignore[no-untyped-def]
    a, b, owner, staff_a, *_ = world
    admin = _switched_in_admin(a)
    for higher in ("clinic_owner", "clinic_manager", "provider"):  # provider adds downloads
        with pytest.raises(users.SwitchedInGrantRefused):
            users.change_role(admin, staff_a, higher)
    users.change_role(admin, staff_a, "viewer")  # lowering a role is allowed
    users.set_member_active(admin, staff_a, False)  # and so is cutting access
    with pytest.raises(users.SwitchedInGrantRefused):
        users.set_member_active(admin, staff_a, True)
    with owner_session() as session:
        row = session.get(Membership, uuid.UUID(staff_a))
        assert row is not None and row.role == "viewer" and row.disabled_at is not None
    users.set_member_active(owner, staff_a, True)  # the clinic's own owner still can
    users.change_role(owner, staff_a, "provider")
