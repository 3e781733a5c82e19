"""The hours page's handlers: edits previewed as typed, errors per field with nothing lost, the
save's notice; managers read only; a coordinator is refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401
from mi_portal.db import platform_session
from mi_portal.models import Tenant
from mi_portal.state.clinic_hours import ClinicHoursState
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, sign_in_token


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a = make_tenant("clinic-a")
    with platform_session() as session:
        tenant = session.get(Tenant, a)
        assert tenant is not None
        tenant.timezone = "Europe/London"
        session.add(tenant)
        session.commit()
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    coordinator, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    return {"a": a, "owner": owner, "manager": manager, "coordinator": coordinator}


async def _in_one_tab(token: str, *steps: tuple[str, tuple[Any, ...]]) -> Any:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": f"mi_session={token}", "user-agent": "pytest"}, "ip": "127.0.0.1"}
    )
    state = await root.get_state(ClinicHoursState)
    for name, args in steps:
        await ClinicHoursState.event_handlers[name].fn(state, *args)
    return state


def tab(token: str, *steps: tuple[str, tuple[Any, ...]]) -> Any:
    return asyncio.run(_in_one_tab(token, *steps))


def test_owner_edits_sees_errors_then_saves(world: dict[str, Any]) -> None:
    make_case(world["a"])  # one open case, whose due times the save recalculates
    token = sign_in_token(world["owner"])
    state = tab(
        token,
        ("load", ()),
        ("set_every_hour", (False,)),
        ("set_day_open", ("mon", True)),
        ("set_day_time", ("mon", "closes", "08:00")),
        ("set_quote_hours", ("999",)),
        ("set_new_day", ("2026-13-01",)),
        ("add_closed_day", ()),
        ("save", ()),
    )
    assert state.timezone == "Europe/London" and state.can_manage
    assert (
        "past midnight" in state.errors["mon"] and "720" in state.errors["quote_turnaround_hours"]
    )
    assert "new_day" in state.errors and state.error.startswith("Nothing was saved")
    # Nothing typed is lost.
    monday = next(d for d in state.days if d["key"] == "mon")
    assert monday["closes"] == "08:00" and monday["error"] and state.quote_hours == "999"
    assert state.new_day == "2026-13-01" and state.preview == ""

    state = tab(
        token,
        ("load", ()),
        ("set_every_hour", (False,)),
        ("set_day_open", ("mon", True)),
        ("set_quote_hours", ("16",)),
        ("set_new_day", ("2027-01-01",)),
        ("set_new_label", ("New Year",)),
        ("add_closed_day", ()),
        ("save", ()),
    )
    assert state.errors == {} and state.error == ""
    assert state.notice == "Saved. 1 open case's due time was recalculated."
    assert state.quote_hours == "16" and state.every_hour is False
    assert [d["key"] for d in state.days if d["open"]] == ["mon"]
    assert state.closed == [{"day": "2027-01-01", "label": "New Year", "past": False}]
    assert state.preview.startswith("A case received now needs a first reply by ")


def test_manager_reads_and_coordinator_is_refused(world: dict[str, Any]) -> None:
    state = tab(sign_in_token(world["manager"]), ("load", ()), ("set_quote_hours", ("5",)))
    assert state.blocked == "" and not state.can_manage
    assert state.quote_hours == "48"  # the edit was refused by the guard
    state = tab(sign_in_token(world["coordinator"]), ("load", ()))
    assert state.blocked == "denied" and state.week == []


def test_a_digit_that_is_not_ascii_is_an_error_not_a_crash(world: dict[str, Any]) -> None:
    token = sign_in_token(world["owner"])
    for typed in ("²", "٣", "1e3"):
        state = tab(token, ("load", ()), ("set_first_hours", (typed,)))
        assert "first_response_hours" in state.errors and state.preview == ""


def test_removing_past_days_asks_first_and_keeps_unsaved_edits(world: dict[str, Any]) -> None:
    with platform_session() as session:
        tenant = session.get(Tenant, world["a"])
        assert tenant is not None
        tenant.closed_days = ["2020-01-01", "2099-12-25"]
        session.add(tenant)
        session.commit()
    token = sign_in_token(world["owner"])
    state = tab(token, ("load", ()), ("set_quote_hours", ("16",)), ("prune_past", ()))
    # A bare event does nothing: removing follows the dialog.
    assert state.confirming == "" and [c["day"] for c in state.closed] == [
        "2020-01-01",
        "2099-12-25",
    ]
    state = tab(
        token,
        ("load", ()),
        ("set_quote_hours", ("16",)),
        ("ask_prune", ()),
        ("prune_past", ()),
    )
    assert [c["day"] for c in state.closed] == ["2099-12-25"]
    assert state.quote_hours == "16" and state.dirty and state.confirming == ""
    assert state.notice.startswith("Removed 1 past closed day.") and "not saved" in state.notice
    with platform_session() as session:
        tenant = session.get(Tenant, world["a"])
        assert tenant is not None
        assert tenant.closed_days == ["2099-12-25"] and tenant.quote_turnaround_hours == 48


def test_discarding_asks_first(world: dict[str, Any]) -> None:
    token = sign_in_token(world["owner"])
    state = tab(token, ("load", ()), ("set_quote_hours", ("16",)), ("discard", ()))
    assert state.quote_hours == "16" and state.dirty  # nothing discarded without the dialog
    state = tab(
        token,
        ("load", ()),
        ("set_quote_hours", ("16",)),
        ("ask_discard", ()),
        ("cancel_confirm", ()),
        ("discard", ()),
    )
    assert state.quote_hours == "16" and state.confirming == ""
    state = tab(
        token, ("load", ()), ("set_quote_hours", ("16",)), ("ask_discard", ()), ("discard", ())
    )
    assert state.quote_hours == "48" and not state.dirty and state.confirming == ""
