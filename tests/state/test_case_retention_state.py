"""The case page's retention card: this case's dates, and a de-identified record says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401
from mi_portal.models import utcnow
from mi_portal.services import clock, retention
from mi_portal.state.case import CaseState
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, sign_in_token


@pytest.fixture
def clock_reset() -> Iterator[None]:
    yield
    clock.set_clock(None)


async def _open(token: str, case_id: str) -> Any:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}", "user-agent": "pytest"},
            "ip": "127.0.0.1",
            "pathname": "/cases/[id]",
            "query": {"id": case_id},
            "asPath": f"/cases/{case_id}",
        }
    )
    state = await root.get_state(CaseState)
    await CaseState.event_handlers["load"].fn(state)
    return state


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_case_card_shows_due_dates_then_the_de_identified_record(
    db: Database, clock_reset: None
) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    user, _ = make_user("coordinator@a.test", role="coordinator", tenants=(a,))
    token = sign_in_token(user)
    _patient, case_id = make_case(a)
    _other, foreign = make_case(b)
    state = asyncio.run(_open(token, str(case_id)))
    texts = [c["text"] for c in state.retention["categories"]]
    assert texts[0].startswith("Photos deleted on ") and not state.retention["deidentified"]
    assert asyncio.run(_open(token, str(foreign))).retention == {}

    moment = utcnow() + timedelta(days=4000)
    clock.set_clock(lambda: moment)
    assert retention.sweep(a).deidentified == 1
    clock.set_clock(None)  # back to today: the sign-in session is still valid
    state = asyncio.run(_open(token, str(case_id)))
    assert not state.not_found and state.case["patient_name"] == "Anonymous patient"
    assert state.retention["deidentified"]
    assert state.retention["deidentified_on"] == moment.date().isoformat()
    assert {c["text"] for c in state.retention["categories"]} >= {"Photos: cleared"}
