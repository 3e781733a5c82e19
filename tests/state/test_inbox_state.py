"""The inbox keeps only the visible page in browser state, whatever the clinic's size."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401
from mi_portal.db import tenant_session
from mi_portal.models import Patient, Submission, utcnow, uuid7
from mi_portal.state.inbox import InboxState
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token


def _many(tenant_id, n: int) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with tenant_session(tenant_id) as session:
        for i in range(n):
            patient = Patient(
                id=uuid7(),
                full_name=f"Patient {i:03d} " + "x" * 40,
                email=f"p{i}@example.org",
                phone="+1 555 0100 000",
            )
            session.add(patient)
            session.flush()
            session.add(
                Submission(
                    id=uuid7(),
                    patient_id=patient.id,
                    concern_area="acne",
                    received_at=now - timedelta(minutes=i),
                    sla_due_at=now + timedelta(hours=i),
                )
            )
        session.commit()


async def _load(token: str, query: str) -> InboxState:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}"},
            "ip": "127.0.0.1",
            "pathname": "/cases",
            "asPath": f"/cases{query}",
        }
    )
    state = await root.get_state(InboxState)
    await InboxState.event_handlers["load"].fn(state)
    return state


def test_only_the_visible_page_is_in_state(db: Database) -> None:
    a = make_tenant("clinic-a")
    user, _ = make_user("m@a.test", role="clinic_manager", tenants=(a,))
    _many(a, 180)
    state = asyncio.run(_load(sign_in_token(user), ""))
    assert state.total == 180
    assert len(state.rows) == 50
    payload = json.dumps({k: getattr(state, k) for k in InboxState.base_vars})
    assert len(payload) < 40_000, len(payload)  # one page, not the clinic's 180 cases
    assert state.rows[0]["patient"].startswith("Patient 000")


def test_masked_roles_are_told_to_search_by_reference(db: Database) -> None:
    a = make_tenant("clinic-a")
    coordinator, _ = make_user("c@a.test", role="coordinator", tenants=(a,))
    manager, _ = make_user("m@a.test", role="clinic_manager", tenants=(a,))
    _many(a, 3)
    refused = asyncio.run(_load(sign_in_token(coordinator), "?search=p1%40example"))
    assert refused.rows == [] and refused.total == 0
    assert refused.error.startswith("Search by case reference")
    assert refused.search_hint.startswith("Search by case reference")
    reference = asyncio.run(_load(sign_in_token(coordinator), "")).rows[1]["reference"]
    found = asyncio.run(_load(sign_in_token(coordinator), f"?search={reference}"))
    assert [r["reference"] for r in found.rows] == [reference] and found.error == ""
    named = asyncio.run(_load(sign_in_token(manager), "?search=p1%40example"))
    assert named.total == 1 and named.search_hint.startswith("Search name")
