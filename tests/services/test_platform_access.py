"""Platform staff's switched-in time per clinic per UTC day: capped, and shown to the clinic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from mi_portal.models import AuditEvent, Role
from mi_portal.services import auth, clock, tenancy
from mi_portal.services.actor import Actor
from mi_portal.services.platform_access import DAILY_SWITCH_CAP, access_today, switched_in_today
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token
from tests.services.test_auth import Clock

REASON = "Ticket 7: clinic asked for help with settings"


@pytest.fixture
def fake_clock() -> Iterator[Clock]:
    c = Clock()  # 2026-11-28 09:00 UTC
    clock.set_clock(c)
    yield c
    clock.set_clock(None)


def _signed(token: str) -> auth.SignedIn:
    signed = auth.resolve(token)
    assert signed is not None
    return signed


def _pass(fake_clock: Clock, token: str, minutes: int) -> None:
    """Let time go by in steps short enough that the session never idles out."""
    for _ in range(minutes // 10):
        fake_clock.advance(minutes=10)
        _signed(token)


def test_renewals_stop_at_the_daily_cap(db: Database, fake_clock: Clock) -> None:
    assert timedelta(hours=4) == DAILY_SWITCH_CAP
    a = make_tenant("clinic-a")
    admin_id, _ = make_user("admin@mi.test", platform_role="platform_admin")
    token = sign_in_token(admin_id)
    tenancy.switch_into(_signed(token), str(a), REASON)  # 09:00
    for _ in range(4):  # renew every 50 minutes: 09:50, 10:40, 11:30, 12:20
        _pass(fake_clock, token, 50)
        tenancy.switch_into(_signed(token), str(a), REASON)
    # 3 h 20 min used at the last renewal: it got the 40 minutes left, not a full hour.
    assert _signed(token).switch_expires_at == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    _pass(fake_clock, token, 40)
    assert _signed(token).actor.tenant_id is None  # the capped switch ended at 13:00
    with pytest.raises(tenancy.SwitchCapReached, match="4 h 00 min"):
        tenancy.switch_into(_signed(token), str(a), REASON)
    with owner_session() as session:
        denied = session.exec(
            select(AuditEvent.chain)
            .where(AuditEvent.action == "tenant.switch_in", AuditEvent.outcome == "denied")
            .order_by(col(AuditEvent.chain))
        ).all()
    assert sorted(denied) == sorted([str(a), "platform"])
    # Another clinic is not affected, and the next UTC day starts afresh.
    b = make_tenant("clinic-b")
    tenancy.switch_into(_signed(token), str(b), REASON)
    fake_clock.now = datetime(2026, 11, 29, 0, 5, tzinfo=UTC)
    token = sign_in_token(admin_id)
    tenancy.switch_into(_signed(token), str(a), REASON)
    assert _signed(token).actor.tenant_id == a


def test_the_clinic_sees_each_platform_persons_time_today(db: Database, fake_clock: Clock) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    admin_id, _ = make_user("admin@mi.test", platform_role="platform_admin")
    support_id, _ = make_user("support@mi.test", platform_role="platform_support")
    owner_id, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    # The day before, 23:30: this switch runs 30 minutes into today.
    fake_clock.now = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    night = sign_in_token(support_id)
    tenancy.switch_into(_signed(night), str(a), REASON)
    fake_clock.now = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    admin, support = sign_in_token(admin_id), sign_in_token(support_id)
    tenancy.switch_into(_signed(admin), str(a), REASON)  # 09:00
    fake_clock.advance(minutes=10)
    tenancy.switch_into(_signed(support), str(a), REASON)  # 09:10, still in at 09:40
    tenancy.switch_into(_signed(sign_in_token(support_id)), str(b), REASON)  # clinic B: not shown
    for _ in range(2):
        _signed(admin)
        _signed(support)
        fake_clock.advance(minutes=10)
    tenancy.switch_out(_signed(admin))  # 09:30
    fake_clock.advance(minutes=10)  # 09:40
    owner = Actor(user_id=owner_id, role=Role.CLINIC_OWNER, tenant_id=a, home_tenant_id=a)
    summary = {row.user: (row.minutes, row.label) for row in access_today(owner)}
    assert summary == {
        "admin@mi.test": (30, "0 h 30 min of 4 h 00 min"),
        "support@mi.test": (60, "1 h 00 min of 4 h 00 min"),  # 30 after midnight + 30 now
    }
    totals = switched_in_today(tenant_id=b, now=clock.now())
    assert list(totals.values()) == [timedelta(minutes=30)]
    # Platform staff outside any clinic get no clinic summary.
    assert access_today(Actor(user_id=admin_id, role=Role.PLATFORM_ADMIN)) == []
