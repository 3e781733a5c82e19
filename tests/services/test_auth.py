"""Sign-in, throttling, second factor and session lifetime, with a controllable clock."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlmodel import select

from mi_portal.db import platform_session
from mi_portal.models import AuditEvent, Membership, User
from mi_portal.services import auth, clock
from tests.clocks import Clock
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token

PASSWORD = "correct horse staple 42"


def test_wrong_password_and_unknown_account_look_the_same(db: Database) -> None:
    tenant = make_tenant("clinic-a")
    make_user("ann@example.org", role="viewer", tenants=(tenant,))
    wrong = auth.check_password("ann@example.org", "not the password", ip=None, user_agent=None)
    unknown = auth.check_password(
        "nobody@example.org", "not the password", ip=None, user_agent=None
    )
    assert wrong.user_id is None and unknown.user_id is None
    assert wrong.error == unknown.error == auth.GENERIC_FAILURE
    ok = auth.check_password(" Ann@Example.org ", PASSWORD, ip=None, user_agent=None)
    assert ok.user_id is not None and not ok.needs_enrolment


def test_backoff_then_lockout_within_100_failures(db: Database, fake_clock: Clock) -> None:
    user_id, secret = make_user("ann@example.org")
    for _ in range(auth.BACKOFF_AFTER):
        assert (
            auth.check_password("ann@example.org", "wrong", ip=None, user_agent=None).user_id
            is None
        )
    # Backed off: even the right password is refused until the pause ends.
    assert (
        auth.check_password("ann@example.org", PASSWORD, ip=None, user_agent=None).user_id is None
    )
    fake_clock.advance(seconds=2)
    assert (
        auth.check_password("ann@example.org", PASSWORD, ip=None, user_agent=None).user_id
        == user_id
    )
    # A full sign-in (password and second factor) resets the count.
    assert auth.check_second_factor(user_id, pyotp.TOTP(secret).at(fake_clock.now))
    # Now fail until locked, waiting out each back-off.
    failures = 0
    while failures < 100:
        auth.check_password("ann@example.org", "wrong", ip=None, user_agent=None)
        failures += 1
        fake_clock.advance(minutes=16)
        with platform_session() as session:
            user = session.get(User, user_id)
            assert user is not None
            if user.locked_until and user.locked_until - fake_clock.now > timedelta(hours=1):
                break
    assert failures <= 100
    assert failures == auth.LOCK_AFTER
    assert (
        auth.check_password("ann@example.org", PASSWORD, ip=None, user_agent=None).user_id is None
    )


def test_totp_code_is_accepted_once(db: Database, fake_clock: Clock) -> None:
    user_id, secret = make_user("ann@example.org")
    code = pyotp.TOTP(secret).at(fake_clock.now)
    assert auth.check_second_factor(user_id, code)
    assert not auth.check_second_factor(user_id, code)
    fake_clock.advance(seconds=30)
    assert auth.check_second_factor(user_id, pyotp.TOTP(secret).at(fake_clock.now))
    wrong = "000000" if pyotp.TOTP(secret).at(fake_clock.now) != "000000" else "111111"
    assert not auth.check_second_factor(user_id, wrong)


def test_enrolment_gives_recovery_codes_each_usable_once(db: Database, fake_clock: Clock) -> None:
    user_id, _ = make_user("ann@example.org", enrolled=False)
    assert auth.check_password(
        "ann@example.org", PASSWORD, ip=None, user_agent=None
    ).needs_enrolment
    secret = auth.new_totp_secret()
    assert (
        auth.confirm_enrolment(
            user_id,
            secret,
            "123456" if pyotp.TOTP(secret).at(fake_clock.now) != "123456" else "654321",
        )
        is None
    )
    codes = auth.confirm_enrolment(user_id, secret, pyotp.TOTP(secret).at(fake_clock.now))
    assert codes is not None and len(codes) == auth.RECOVERY_CODES and len(set(codes)) == len(codes)
    assert auth.check_second_factor(user_id, codes[0])
    assert not auth.check_second_factor(user_id, codes[0])
    assert auth.check_second_factor(user_id, codes[1].upper())
    with owner_session() as session:
        user = session.get(User, user_id)
        assert (
            user is not None and user.totp_secret and secret not in user.totp_secret
        )  # encrypted at rest
        actions = [
            e.action for e in session.exec(select(AuditEvent).where(AuditEvent.user_id == user_id))
        ]
    assert "mfa.enrolled" in actions


def test_ticket_is_single_use_and_short_lived(db: Database, fake_clock: Clock) -> None:
    user_id, _ = make_user("ann@example.org")
    ticket = auth.start_session(user_id, mfa_passed=True, ip=None, user_agent=None, browser="b1")
    assert auth.redeem_ticket(ticket, browser="b1") is not None
    assert auth.redeem_ticket(ticket, browser="b1") is None
    late = auth.start_session(user_id, mfa_passed=True, ip=None, user_agent=None, browser="b1")
    fake_clock.advance(seconds=61)
    assert auth.redeem_ticket(late, browser="b1") is None


def test_ticket_redeems_only_in_the_browser_it_was_bound_to(db: Database) -> None:
    user_id, _ = make_user("ann@example.org")
    ticket = auth.start_session(user_id, mfa_passed=True, ip=None, user_agent=None, browser="mine")
    assert auth.redeem_ticket(ticket, browser="victim") is None
    assert auth.redeem_ticket(ticket, browser=None) is None
    assert auth.redeem_ticket(ticket, browser="") is None
    token = auth.redeem_ticket(ticket, browser="mine")
    assert token is not None and auth.resolve(token) is not None
    with pytest.raises(ValueError):
        auth.start_session(user_id, mfa_passed=True, ip=None, user_agent=None, browser="")


def test_idle_timeout(db: Database, fake_clock: Clock) -> None:
    tenant = make_tenant("clinic-a")
    user_id, _ = make_user("ann@example.org", role="coordinator", tenants=(tenant,))
    token = sign_in_token(user_id)
    for _ in range(10):  # active use keeps it alive well past 15 minutes in total
        fake_clock.advance(minutes=10)
        assert auth.resolve(token) is not None
    fake_clock.advance(minutes=15)
    assert auth.resolve(token) is None
    fake_clock.advance(seconds=1)
    assert auth.resolve(token) is None  # and it stays dead


def test_absolute_lifetime(db: Database, fake_clock: Clock) -> None:
    user_id, _ = make_user("ann@example.org")
    token = sign_in_token(user_id)
    for _ in range(12 * 6 - 1):
        fake_clock.advance(minutes=10)
        assert auth.resolve(token) is not None
    fake_clock.advance(minutes=10)
    assert auth.resolve(token) is None


def test_sign_out_everywhere_and_disabled_user_are_cut_off(db: Database) -> None:
    tenant = make_tenant("clinic-a")
    user_id, _ = make_user("ann@example.org", role="coordinator", tenants=(tenant,))
    first, second = sign_in_token(user_id), sign_in_token(user_id)
    assert auth.resolve(first) and auth.resolve(second)
    assert auth.sign_out_everywhere(user_id) == 2
    assert auth.resolve(first) is None and auth.resolve(second) is None
    third = sign_in_token(user_id)
    with platform_session() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.disabled = True
        session.add(user)
        session.commit()
    assert auth.resolve(third) is None


def test_disabled_membership_loses_the_clinic_at_next_event(db: Database) -> None:
    tenant = make_tenant("clinic-a")
    user_id, _ = make_user("ann@example.org", role="clinic_manager", tenants=(tenant,))
    token = sign_in_token(user_id)
    signed = auth.resolve(token)
    assert (
        signed and signed.actor.tenant_id == tenant and signed.actor.role.value == "clinic_manager"
    )
    with owner_session() as session:
        membership = session.exec(select(Membership).where(Membership.user_id == user_id)).one()
        membership.disabled_at = clock.now()
        session.add(membership)
        session.commit()
    signed = auth.resolve(token)
    assert (
        signed is not None
        and signed.actor.tenant_id is None
        and signed.actor.role.value == "viewer"
    )


def test_garbage_tokens_resolve_to_nobody(db: Database) -> None:
    for token in (None, "", "x" * 500, "not-a-token"):
        assert auth.resolve(token) is None


def test_second_factor_guesses_back_off_like_passwords(db: Database, fake_clock: Clock) -> None:
    user_id, secret = make_user("ann@example.org")
    right = pyotp.TOTP(secret).at(fake_clock.now)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(auth.BACKOFF_AFTER):
        assert not auth.check_second_factor(user_id, wrong)
    assert not auth.check_second_factor(user_id, right)  # paused, even for the right code
    fake_clock.advance(seconds=2)
    assert auth.check_second_factor(user_id, pyotp.TOTP(secret).at(fake_clock.now))
    with platform_session() as session:
        user = session.get(User, user_id)
        assert user is not None and user.failed_logins == 0


def test_password_success_does_not_clear_failures_before_the_second_factor(
    db: Database, fake_clock: Clock
) -> None:
    user_id, secret = make_user("ann@example.org")
    for _ in range(3):
        auth.check_second_factor(user_id, "not-a-code")
    assert (
        auth.check_password("ann@example.org", PASSWORD, ip=None, user_agent=None).user_id
        == user_id
    )
    with platform_session() as session:
        user = session.get(User, user_id)
        assert user is not None and user.failed_logins == 3


def test_sso_session_reaches_only_the_providers_clinic(db: Database) -> None:
    from mi_portal.services import tenancy
    from mi_portal.services.actor import NotFound

    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    user_id, _ = make_user("both@example.org", role="clinic_manager", tenants=(a, b))
    ticket = auth.start_session(
        user_id, mfa_passed=True, ip=None, user_agent=None, browser="b", sso_scope=str(a)
    )
    token = auth.redeem_ticket(ticket, browser="b")
    signed = auth.resolve(token)
    assert signed is not None and signed.actor.tenant_id == a
    assert [m[0] for m in signed.memberships] == [a]
    with pytest.raises(NotFound):
        tenancy.choose_clinic(signed, str(b))
    platform_ticket = auth.start_session(
        user_id, mfa_passed=True, ip=None, user_agent=None, browser="b", sso_scope="platform"
    )
    assert auth.resolve(auth.redeem_ticket(platform_ticket, browser="b")) is None
