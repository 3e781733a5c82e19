"""Platform accounts: invitations through the platform outbox, platform roles, disabling any
account everywhere, and resetting a lost second factor (audited in every chain of the user)."""

from __future__ import annotations

import re
import uuid

import pyotp
import pytest
from sqlmodel import col, select

from mi_portal.models import AuditEvent, PlatformOutboxMessage, RecoveryCode, Role, User
from mi_portal.services import audit, auth, platform_users, users
from mi_portal.services.actor import Actor, NotFound, PermissionDenied, system_actor
from mi_portal.services.platform_users import AccountProblem
from tests.clocks import Clock
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token

PASSWORD = "correct horse staple 42"


def _admin(email: str = "admin@mi.test", *, tenant_id: uuid.UUID | None = None) -> Actor:
    user_id, _ = make_user(email, platform_role="platform_admin")
    return Actor(user_id=user_id, role=Role.PLATFORM_ADMIN, tenant_id=tenant_id)


def _events(action: str) -> list[tuple[str, str | None, str | None]]:
    """(chain, target, reason) of each ``action`` event, oldest first."""
    with owner_session() as session:
        return [
            (e.chain, e.target_id, e.reason)
            for e in session.exec(
                select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.id))
            )
        ]


def _mail_to(address: str) -> list[PlatformOutboxMessage]:
    with owner_session() as session:
        rows = list(
            session.exec(
                select(PlatformOutboxMessage).where(PlatformOutboxMessage.recipient == address)
            )
        )
        for row in rows:
            session.expunge(row)
    return rows


def _user(user_id: uuid.UUID | str) -> User:
    with owner_session() as session:
        user = session.get(User, uuid.UUID(str(user_id)))
        assert user is not None
        session.expunge(user)
    return user


def _link_token(body: str) -> str:
    found = re.search(r"/invite\?token=(\S+)", body)
    assert found, body
    return found.group(1)


def test_staff_list_and_search_over_every_account(db: Database) -> None:
    a, b = make_tenant("clinic-a", "Alpha Skin"), make_tenant("clinic-b", "Beta Dental")
    admin = _admin()
    support_id, _ = make_user("help@mi.test", platform_role="platform_support", enrolled=False)
    clinic_id, _ = make_user("pat.doe@a.test", role="coordinator", tenants=(a, b))
    sign_in_token(support_id, mfa=False)
    off = platform_users.invite(
        admin, email="Off@MI.test", full_name="Off Duty", role="platform_support"
    )
    platform_users.set_disabled(admin, off, disabled=True, reason="left the team")

    staff = {s.email: s for s in platform_users.list_staff(admin)}
    assert set(staff) == {"admin@mi.test", "help@mi.test", "off@mi.test"}  # no clinic user
    assert staff["admin@mi.test"].is_self and staff["admin@mi.test"].status == "active"
    assert staff["help@mi.test"].platform_role == "platform_support"
    assert not staff["help@mi.test"].mfa_enrolled and staff["help@mi.test"].last_seen is not None
    assert staff["admin@mi.test"].mfa_enrolled and staff["admin@mi.test"].last_seen is None
    assert staff["off@mi.test"].status == "disabled"

    found = platform_users.search(admin, "  PAT.DOE ")
    assert [f.user_id for f in found] == [str(clinic_id)]
    assert found[0].platform_role == "" and found[0].status == "active"
    assert [(c.name, c.role) for c in found[0].clinics] == [
        ("Alpha Skin", "Coordinator"),
        ("Beta Dental", "Coordinator"),
    ]
    assert {f.email for f in platform_users.search(admin, "Off Duty")} == {"off@mi.test"}
    invited = platform_users.invite(
        admin, email="new@mi.test", full_name="New Person", role="platform_admin"
    )
    assert {f.status for f in platform_users.search(admin, "new@")} == {"invited"}
    assert _user(invited).platform_role == "platform_admin"
    # Wildcards are searched for as text, and a one-letter query finds nothing.
    assert platform_users.search(admin, "%") == []
    assert platform_users.search(admin, "_@") == []
    assert platform_users.search(admin, "p") == []


def test_only_a_platform_admin_outside_any_clinic_manages_accounts(db: Database) -> None:
    a = make_tenant("clinic-a")
    target, _ = make_user("staff@a.test", role="coordinator", tenants=(a,))
    support_id, _ = make_user("help@mi.test", platform_role="platform_support")
    owner_id, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    for actor in (
        _admin(tenant_id=a),  # switched into a clinic: platform work waits until they leave
        Actor(user_id=support_id, role=Role.PLATFORM_SUPPORT),
        Actor(user_id=owner_id, role=Role.CLINIC_OWNER, tenant_id=a, home_tenant_id=a),
    ):
        with pytest.raises(PermissionDenied):
            platform_users.list_staff(actor)
        with pytest.raises(PermissionDenied):
            platform_users.search(actor, "staff")
        with pytest.raises(PermissionDenied):
            platform_users.invite(actor, email="x@mi.test", full_name="X Y", role="platform_admin")
        with pytest.raises(PermissionDenied):
            platform_users.set_disabled(actor, target, disabled=True, reason="why")
        with pytest.raises(PermissionDenied):
            platform_users.reset_second_factor(actor, target, reason="lost phone")
    assert not _user(target).disabled and _user(target).totp_enabled_at is not None


def test_invite_sends_the_link_through_the_platform_outbox(db: Database) -> None:
    admin = _admin()
    user_id = platform_users.invite(
        admin, email=" Sam@MI.test ", full_name=" Sam  Support ", role="platform_support"
    )
    (mail,) = _mail_to("sam@mi.test")
    assert mail.status == "pending" and "Platform support" in mail.body
    user = _user(user_id)
    assert (user.email, user.full_name, user.platform_role) == (
        "sam@mi.test",
        "Sam Support",
        "platform_support",
    )
    assert user.password_hash is None and user.invite_token_hash
    assert _events("platform_user.invited") == [("platform", user_id, None)]

    # Sending it again kills the first link.
    platform_users.resend_invite(admin, user_id)
    first, second = (_link_token(m.body) for m in _mail_to("sam@mi.test"))
    assert first != second
    assert users.accept_invite(first, "violet kettle harbour")  # problems: the old link is dead
    assert users.accept_invite(second, "violet kettle harbour") == []
    assert _status(admin, "sam@mi.test") == "active"
    with pytest.raises(AccountProblem, match="pending invitation"):
        platform_users.resend_invite(admin, user_id)
    # The account then signs in and must enrol a second factor first.
    signed = auth.check_password("sam@mi.test", "violet kettle harbour", ip=None, user_agent=None)
    assert signed.user_id == uuid.UUID(user_id) and signed.needs_enrolment


def _status(admin: Actor, email: str) -> str:
    (found,) = [a for a in platform_users.search(admin, email) if a.email == email]
    return found.status


def test_invite_refuses_an_address_with_an_account_and_bad_input(db: Database) -> None:
    a = make_tenant("clinic-a")
    make_user("staff@a.test", role="coordinator", tenants=(a,))
    admin = _admin()
    cases = [
        ({"email": "staff@a.test", "full_name": "S A", "role": "platform_admin"}, "email", "stay separate"),
        ({"email": "admin@mi.test", "full_name": "A B", "role": "platform_admin"}, "email", "already platform"),
        ({"email": "not an email", "full_name": "A B", "role": "platform_admin"}, "email", "valid email"),
        ({"email": "c@mi.test", "full_name": "  ", "role": "platform_admin"}, "full_name", "name"),
        ({"email": "c@mi.test", "full_name": "C D", "role": "clinic_owner"}, "role", "platform role"),
    ]  # fmt: skip
    for kwargs, field, message in cases:
        with pytest.raises(AccountProblem, match=message) as problem:
            platform_users.invite(admin, **kwargs)
        assert problem.value.field == field
    user = _user(make_user("x@mi.test")[0])
    assert user.platform_role is None  # the clinic account was not turned into staff either
    assert _mail_to("staff@a.test") == [] and _mail_to("c@mi.test") == []
    assert _events("platform_user.invited") == []


def test_change_role_keeps_an_admin_and_never_ones_own(db: Database) -> None:
    admin = _admin()
    other = platform_users.invite(
        admin, email="two@mi.test", full_name="Two Admin", role="platform_admin"
    )
    platform_users.change_role(admin, other, "platform_support")
    assert _user(other).platform_role == "platform_support"
    assert _events("platform_user.role_changed") == [("platform", other, None)]
    with pytest.raises(AccountProblem, match="your own"):
        platform_users.change_role(admin, str(admin.user_id), "platform_support")
    with pytest.raises(AccountProblem, match="platform role"):
        platform_users.change_role(admin, other, "clinic_owner")
    # The command line acts as no one: it still cannot leave the platform without an admin.
    with pytest.raises(AccountProblem, match="at least one active platform admin"):
        platform_users.change_role(system_actor(), str(admin.user_id), "platform_support")
    assert _user(admin.user_id).platform_role == "platform_admin"  # type: ignore[arg-type]
    a = make_tenant("clinic-a")
    clinic_user, _ = make_user("staff@a.test", role="coordinator", tenants=(a,))
    for target in (clinic_user, uuid.uuid4(), "garbage"):
        with pytest.raises(NotFound):
            platform_users.change_role(admin, target, "platform_admin")
    assert _user(clinic_user).platform_role is None


def test_disable_cuts_every_session_at_once_and_enable_restores(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    admin = _admin()
    target, _ = make_user("staff@a.test", role="provider", tenants=(a, b))
    tokens = [sign_in_token(target), sign_in_token(target)]
    assert all(auth.resolve(t) is not None for t in tokens)

    with pytest.raises(AccountProblem, match="reason") as problem:
        platform_users.set_disabled(admin, target, disabled=True, reason=" \u200b ")
    assert problem.value.field == "reason"
    assert auth.resolve(tokens[0]) is not None
    with pytest.raises(AccountProblem, match="your own"):
        platform_users.set_disabled(admin, admin.user_id, disabled=True, reason="test")

    platform_users.set_disabled(admin, target, disabled=True, reason="  Left the clinic ")
    assert all(auth.resolve(t) is None for t in tokens)
    assert _user(target).disabled
    refused = auth.check_password("staff@a.test", PASSWORD, ip=None, user_agent=None)
    assert refused.user_id is None
    assert sorted(_events("platform_user.disabled")) == sorted(
        [(chain, str(target), "Left the clinic") for chain in ("platform", str(a), str(b))]
    )

    platform_users.set_disabled(admin, target, disabled=False)
    assert not _user(target).disabled
    assert all(auth.resolve(t) is None for t in tokens)  # ended sessions stay ended
    back = auth.check_password("staff@a.test", PASSWORD, ip=None, user_agent=None)
    assert back.user_id == target and not back.needs_enrolment
    assert len(_events("platform_user.enabled")) == 3
    for chain in ("platform", str(a), str(b)):
        assert audit.verify_chain(chain) is None


def test_disable_keeps_an_active_platform_admin(db: Database) -> None:
    admin = _admin()
    # An admin invitation nobody has accepted signs no one in: it does not count as an admin.
    platform_users.invite(
        admin, email="later@mi.test", full_name="Later Admin", role="platform_admin"
    )
    with pytest.raises(AccountProblem, match="at least one active platform admin"):
        platform_users.set_disabled(system_actor(), admin.user_id, disabled=True, reason="tidy up")
    with pytest.raises(AccountProblem, match="at least one active platform admin"):
        platform_users.change_role(system_actor(), str(admin.user_id), "platform_support")
    assert not _user(admin.user_id).disabled  # type: ignore[arg-type]


def _recovery_codes(user_id: uuid.UUID) -> int:
    with owner_session() as session:
        return len(session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user_id)).all())


def test_reset_second_factor_forces_enrolment_and_is_audited_everywhere(
    db: Database, fake_clock: Clock
) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    make_tenant("clinic-c")  # no membership there: its chain hears nothing
    admin = _admin()
    target, old_secret = make_user("lost@a.test", role="coordinator", tenants=(a, b))
    assert old_secret is not None
    codes = auth.confirm_enrolment(target, old_secret, pyotp.TOTP(old_secret).at(fake_clock.now))
    assert codes and _recovery_codes(target) == auth.RECOVERY_CODES
    token = sign_in_token(target)
    assert auth.resolve(token) is not None

    platform_users.reset_second_factor(admin, target, reason=" Phone lost;\nchecked by video call ")

    user = _user(target)
    assert user.totp_secret is None and user.totp_enabled_at is None
    assert user.totp_last_step is None and user.mfa_reset_at == fake_clock.now
    assert _recovery_codes(target) == 0
    assert auth.resolve(token) is None  # cut at the next event
    fake_clock.advance(seconds=30)
    assert not auth.check_second_factor(target, pyotp.TOTP(old_secret).at(fake_clock.now))
    assert not auth.check_second_factor(target, codes[0])
    # The password step now leads to enrolment, not to the code prompt.
    step = auth.check_password("lost@a.test", PASSWORD, ip=None, user_agent=None)
    assert step.user_id == target and step.needs_enrolment
    fresh = auth.new_totp_secret()
    assert auth.confirm_enrolment(target, fresh, pyotp.TOTP(fresh).at(fake_clock.now))
    again = auth.check_password("lost@a.test", PASSWORD, ip=None, user_agent=None)
    assert again.user_id == target and not again.needs_enrolment

    reason = "Phone lost;\nchecked by video call"
    assert sorted(_events("platform_user.mfa_reset")) == sorted(
        [(chain, str(target), reason) for chain in ("platform", str(a), str(b))]
    )
    for chain in ("platform", str(a), str(b)):
        assert audit.verify_chain(chain) is None
    (mail,) = _mail_to("lost@a.test")
    assert "two-step sign-in was reset" in mail.subject and reason not in mail.body


def test_reset_second_factor_refusals(db: Database) -> None:
    a = make_tenant("clinic-a")
    admin = _admin()
    target, _ = make_user("lost@a.test", role="coordinator", tenants=(a,))
    support_id, _ = make_user("help@mi.test", platform_role="platform_support")
    refusals: list[tuple[Actor, object, object, type[Exception], str | None]] = [
        (admin, admin.user_id, "my phone broke", AccountProblem, "your own"),
        (admin, target, "", AccountProblem, "Give a reason"),
        (admin, target, "   \n ", AccountProblem, "Give a reason"),
        (admin, target, "x" * 501, AccountProblem, "under 500"),
        (Actor(user_id=support_id, role=Role.PLATFORM_SUPPORT), target, "lost", PermissionDenied, None),
        (_admin("in@mi.test", tenant_id=a), target, "lost", PermissionDenied, None),
        (admin, uuid.uuid4(), "lost", NotFound, None),
    ]  # fmt: skip
    for actor, who, reason, error, message in refusals:
        with pytest.raises(error, match=message):
            platform_users.reset_second_factor(actor, who, reason=reason)
    for user_id in (target, admin.user_id):
        assert _user(user_id).totp_enabled_at is not None  # type: ignore[arg-type]
    assert _events("platform_user.mfa_reset") == [] and _mail_to("lost@a.test") == []
    # Exactly 500 characters is allowed.
    platform_users.reset_second_factor(admin, target, reason="y" * 500)
    assert _user(target).totp_enabled_at is None
