"""The audit page: a clinic's own events, who from the platform was in the clinic today, and a
person's repeated views folded into one line (the export still lists each one)."""

from __future__ import annotations

import asyncio

import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401
from mi_portal.models import Role
from mi_portal.services import audit, auth, tenancy
from mi_portal.services.actor import Actor
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


def test_owner_reads_one_line_for_thirty_photo_fetches(db: Database) -> None:
    a = make_tenant("clinic-a")
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    token = sign_in_token(owner)
    actor = Actor(user_id=owner, role=Role.CLINIC_OWNER, tenant_id=a)
    for n in range(30):
        audit.record(actor, "image.fetch", target_type="object", target_id=f"photo-{n}")

    state = asyncio.run(_load(token))
    fetches = [line for line in state.lines if line.action == "image.fetch"]
    assert len(fetches) == 1
    assert fetches[0].count == 30 and fetches[0].action_label == "Opened 30 photos"
    assert sum(1 for r in state.rows if r["action"] == "image.fetch") == 30
    assert "image.fetch" not in [line.action_label for line in state.lines]

    exported = audit.export_csv(actor, audit.AuditFilter())
    assert sum(1 for row in exported.splitlines() if ",image.fetch," in row) == 30
