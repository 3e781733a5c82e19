"""Over sessions lose their IP and user agent after the platform-wide period; live ones keep them."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from mi_portal.config import reset_settings
from mi_portal.db import platform_session
from mi_portal.models import PLATFORM_CHAIN, AuditEvent, UserSession
from mi_portal.services import auth
from mi_portal.services.session_hygiene import ACTION, clear_session_network
from tests.clocks import Clock
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token


def _session_of(token: str) -> uuid.UUID:
    with platform_session() as session:
        row = session.exec(
            select(UserSession).where(UserSession.token_hash == auth._hash_token(token))
        ).first()
        assert row is not None
        return row.id


def _network(session_id: uuid.UUID) -> tuple[str | None, str | None]:
    with platform_session() as session:
        row = session.get(UserSession, session_id)
        assert row is not None
        return row.ip, row.user_agent


def _cleared_events() -> list[AuditEvent]:
    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent).where(
                    AuditEvent.chain == PLATFORM_CHAIN, AuditEvent.action == ACTION
                )
            ).all()
        )


def test_sessions_over_the_period_lose_network_details(db: Database, fake_clock: Clock) -> None:
    tenant = make_tenant("clinic-a")
    user_id, _ = make_user("ann@example.org", role="viewer", tenants=(tenant,))
    start = fake_clock.now

    old_token = sign_in_token(user_id)  # signed out at once: revoked 31 days before the sweep
    old = _session_of(old_token)
    auth.sign_out(old_token)
    expired = _session_of(sign_in_token(user_id))  # never signed out: expires 12 h later
    fake_clock.now = start + timedelta(days=2)
    recent_token = sign_in_token(user_id)
    recent = _session_of(recent_token)
    auth.sign_out(recent_token)  # revoked 29 days before the sweep
    fake_clock.now = start + timedelta(days=31)
    active = _session_of(sign_in_token(user_id))

    assert clear_session_network() == 2
    assert _network(old) == (None, None)
    assert _network(expired) == (None, None)
    assert _network(recent) == ("127.0.0.1", "pytest")
    assert _network(active) == ("127.0.0.1", "pytest")
    with platform_session() as session:  # the rows stay as the login history
        assert session.get(UserSession, old) is not None

    events = _cleared_events()
    assert [e.details["count"] for e in events] == [2]

    assert clear_session_network() == 0  # idempotent, and nothing to audit
    assert len(_cleared_events()) == 1

    fake_clock.advance(days=2)  # the recent one is now over the period too
    assert clear_session_network(batch=1) == 1
    assert _network(recent) == (None, None)
    assert _network(active) == ("127.0.0.1", "pytest")


def test_batches_reach_every_due_session(db: Database, fake_clock: Clock) -> None:
    user_id, _ = make_user("ann@example.org")
    sessions = []
    for _ in range(5):
        token = sign_in_token(user_id)
        sessions.append(_session_of(token))
        auth.sign_out(token)
    later = fake_clock.now + timedelta(days=31)
    assert clear_session_network(now=later, batch=2) == 5
    assert all(_network(s) == (None, None) for s in sessions)


def test_period_comes_from_the_setting(
    db: Database, fake_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_id, _ = make_user("ann@example.org")
    token = sign_in_token(user_id)
    session_id = _session_of(token)
    auth.sign_out(token)
    monkeypatch.setenv("MI_SESSION_NETWORK_DAYS", "90")
    reset_settings()
    assert clear_session_network(now=fake_clock.now + timedelta(days=60)) == 0
    assert _network(session_id) == ("127.0.0.1", "pytest")
    assert clear_session_network(now=fake_clock.now + timedelta(days=91)) == 1


@pytest.mark.parametrize("raw", ["0", "3651", "thirty"])
def test_out_of_range_setting_is_refused(
    raw: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from mi_portal.config import get_settings

    monkeypatch.setenv("MI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MI_SESSION_NETWORK_DAYS", raw)
    reset_settings()
    try:
        with pytest.raises(RuntimeError, match="MI_SESSION_NETWORK_DAYS"):
            get_settings()
    finally:
        monkeypatch.delenv("MI_SESSION_NETWORK_DAYS")
        reset_settings()
