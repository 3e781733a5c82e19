"""The audit page: a clinic's own events, and who from the platform was in the clinic today."""

from __future__ import annotations

import asyncio

import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401
from mi_portal.services import auth, tenancy
from mi_portal.state.audit import AuditState
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token


async def _load(token: str) -> AuditState:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": f"mi_session={token}"}, "ip": "127.0.0.1", "pathname": "/audit"}
    )
    state = await root.get_state(AuditState)
    await AuditState.event_handlers["load"].fn(state)
    return state


def test_owner_sees_own_log_and_platform_access_today(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    make_user("owner@b.test", role="clinic_owner", tenants=(b,))
    admin, _ = make_user("admin@mi.test", platform_role="platform_admin")
    admin_token = sign_in_token(admin)
    signed = auth.resolve(admin_token)
    assert signed is not None
    tenancy.switch_into(signed, str(a), "Ticket 9: checking the retention settings")
    sign_in_token(make_user("staff@b.test", role="viewer", tenants=(b,))[0])

    state = asyncio.run(_load(sign_in_token(owner)))
    assert state.total > 0 and {r["chain"] for r in state.rows} == {"clinic"}
    assert "owner@b.test" not in str(state.rows) and "staff@b.test" not in str(state.rows)
    assert [p["user"] for p in state.platform_access] == ["admin@mi.test"]
    assert state.platform_access[0]["label"].endswith("of 4 h 00 min")

    # Platform staff outside any clinic read the platform chain, and no clinic summary.
    tenancy.switch_out(auth.resolve(admin_token))  # type: ignore[arg-type]
    state = asyncio.run(_load(admin_token))
    assert state.total > 0 and {r["chain"] for r in state.rows} == {"platform"}
    assert state.platform_access == []
