"""The dashboard's state: the address decides the view, one load is one audited view, a CSV
export is audited, a clinic's handlers show only its own cases, the home page's figures are one
audited summary view per visit, and roles without reports get nothing."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import re
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlalchemy import func
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401
from mi_portal.models import AuditEvent
from mi_portal.state.overview import SUMMARY_KEYS, OverviewState
from mi_portal.state.platform_reports import PlatformReportsState
from mi_portal.state.reports import ReportsState, address
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, owner_session, sign_in_token


def _root(token: str, path: str) -> rx.State:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}"},
            "ip": "127.0.0.1",
            "pathname": path.split("?")[0],
            "asPath": path,
        }
    )
    return root


def _redirect_path(result: object) -> str:
    assert isinstance(result, rx.event.EventSpec), result
    assert result.handler.fn.__qualname__.endswith("_redirect"), result
    return dict((k._js_expr, v._var_value) for k, v in result.args)["path"]  # type: ignore[attr-defined]


async def _open(cls: type[rx.State], token: str, path: str) -> tuple[Any, list[str]]:
    """Load ``path`` as the browser does: follow the page's own address changes, then run the
    computation the load asks for. Returns the state and the addresses visited."""
    visited = [path]
    state: Any = None
    for _ in range(3):
        root = _root(token, visited[-1])
        if state is not None:
            root = state._get_root_state()
            root.router = _root(token, visited[-1]).router
        state = await root.get_state(cls)
        result = await cls.event_handlers["load"].fn(state)
        if isinstance(result, rx.event.EventSpec) and result.handler.fn.__qualname__.endswith(
            "_redirect"
        ):
            visited.append(_redirect_path(result))
            continue
        if result is not None:
            await cls.event_handlers["compute"].fn(state)
        return state, visited
    raise AssertionError(f"the page kept moving: {visited}")


def _audits(action: str) -> int:
    with owner_session() as session:
        return session.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        ).one()


def _stat(state: Any, key: str) -> str:
    return next(s["value"] for s in state.stats if s["key"] == key)


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_a_clinic_sees_only_its_own_cases_and_each_view_is_audited_once(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    for _ in range(3):
        make_case(a)
    for _ in range(5):
        make_case(b)
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    token = sign_in_token(owner)
    before = _audits("reports.viewed")
    state, visited = asyncio.run(_open(ReportsState, token, "/reports"))
    assert visited == ["/reports"]
    assert state.blocked == "" and state.error == "" and state.loading is False
    assert _stat(state, "received") == "3"
    received = next(c for c in state.charts if c["key"] == "received")
    assert sum(int(row[1]) for row in received["rows"]) == 3
    assert received["figure"]["data"] and received["empty"] is False
    assert _audits("reports.viewed") == before + 1
    # The computation runs once per load: calling it again shows nothing new and records nothing.
    asyncio.run(ReportsState.event_handlers["compute"].fn(state))
    assert _audits("reports.viewed") == before + 1

    manager, _ = make_user("manager@b.test", role="clinic_manager", tenants=(b,))
    other, _ = asyncio.run(_open(ReportsState, sign_in_token(manager), "/reports"))
    assert _stat(other, "received") == "5"


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_controls_show_the_address_and_a_bad_one_is_explained(db: Database) -> None:
    a = make_tenant("clinic-a")
    make_case(a)
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    token = sign_in_token(owner)
    state, visited = asyncio.run(
        _open(ReportsState, token, "/reports?from=2026-01-01&to=2026-01-31&grain=day&area=acne")
    )
    assert len(visited) == 1 and state.problem == ""
    assert state.view == {
        "from": "2026-01-01",
        "to": "2026-01-31",
        "grain": "day",
        "area": "acne",
        "source": "",
    }
    bad, visited = asyncio.run(_open(ReportsState, token, "/reports?from=2026-02-31&grain=hour"))
    assert visited[-1] == "/reports"
    assert bad.problem and "Showing the default" in bad.problem
    assert bad.view["grain"] == "week" and bad.error == ""
    assert bad.charts


def test_the_address_leaves_defaults_out_and_keeps_dates_together() -> None:
    default = {"from": "2026-09-03", "to": "2026-12-01", "grain": "week", "area": "", "source": ""}
    assert address(default, default) == "/reports"
    assert (
        address({**default, "from": "2026-11-01"}, default)
        == "/reports?from=2026-11-01&to=2026-12-01"
    )
    assert address({**default, "grain": "month", "source": "directory"}, default) == (
        "/reports?grain=month&source=directory"
    )


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_a_csv_download_is_its_table_and_is_audited(db: Database) -> None:
    a = make_tenant("clinic-a")
    for _ in range(2):
        make_case(a)
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    token = sign_in_token(owner)
    state, _ = asyncio.run(_open(ReportsState, token, "/reports"))
    before = _audits("reports.exported")
    result = asyncio.run(ReportsState.event_handlers["download"].fn(state, "received"))
    assert isinstance(result, rx.event.EventSpec)
    assert _audits("reports.exported") == before + 1
    received = next(c for c in state.charts if c["key"] == "received")
    url = next(v._var_value for k, v in result.args if k._js_expr == "url")  # type: ignore[attr-defined]
    encoded = re.search(r"base64,([A-Za-z0-9+/=]+)", str(url))
    assert encoded is not None
    table = list(csv.reader(io.StringIO(base64.b64decode(encoded.group(1)).decode("utf-8"))))
    assert table == [received["columns"], *received["rows"]]
    # An unknown chart downloads nothing and records nothing.
    assert asyncio.run(ReportsState.event_handlers["download"].fn(state, "nope")) is None
    assert _audits("reports.exported") == before + 1


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_roles_without_reports_get_no_figures(db: Database) -> None:
    a = make_tenant("clinic-a")
    make_case(a)
    coordinator, _ = make_user("c@a.test", role="coordinator", tenants=(a,))
    token = sign_in_token(coordinator)
    state, _ = asyncio.run(_open(ReportsState, token, "/reports"))
    assert state.blocked == "denied" and state.charts == [] and state.stats == []
    root = _root(token, "/")
    home = asyncio.run(root.get_state(OverviewState))
    result = asyncio.run(OverviewState.event_handlers["load"].fn(home))
    assert result is None and home.can_view_reports is False and home.summary == []
    admin, _ = make_user("admin@p.test", platform_role="platform_admin")
    in_clinic, _ = asyncio.run(_open(ReportsState, sign_in_token(admin), "/reports"))
    assert in_clinic.blocked == "denied"
    platform, _ = asyncio.run(_open(PlatformReportsState, token, "/platform/reports"))
    assert platform.blocked == "denied" and platform.usage == []


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_the_home_page_summary_is_the_last_30_days_and_one_summary_view(db: Database) -> None:
    a = make_tenant("clinic-a")
    for _ in range(4):
        make_case(a)
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    root = _root(sign_in_token(owner), "/")
    home = asyncio.run(root.get_state(OverviewState))
    viewed, summaries = _audits("reports.viewed"), _audits("reports.summary_viewed")
    result = asyncio.run(OverviewState.event_handlers["load"].fn(home))
    assert result is not None and home.can_view_reports is True
    assert _audits("reports.summary_viewed") == summaries  # nothing shown yet
    asyncio.run(OverviewState.event_handlers["load_summary"].fn(home))
    assert home.summary_error == "" and home.summary_loading is False
    assert [s["key"] for s in home.summary] == list(SUMMARY_KEYS)
    values = {s["key"]: s["value"] for s in home.summary}
    assert values["received"] == "4"
    assert home.summary_href.startswith("/reports?from=")
    # One home visit with figures is one summary view, never a view of the reports.
    assert _audits("reports.summary_viewed") == summaries + 1
    assert _audits("reports.viewed") == viewed
    with owner_session() as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "reports.summary_viewed")
        ).one()
    assert event.chain == str(a) and event.user_id == owner
    assert event.details["grain"] == "week" and event.details["to"] in home.summary_href
    # The figures are computed once per load: a second call shows and records nothing new.
    asyncio.run(OverviewState.event_handlers["load_summary"].fn(home))
    assert _audits("reports.summary_viewed") == summaries + 1
    # Loading the home page again is another visit.
    again = asyncio.run(OverviewState.event_handlers["load"].fn(home))
    assert again is not None
    asyncio.run(OverviewState.event_handlers["load_summary"].fn(home))
    assert _audits("reports.summary_viewed") == summaries + 2
    assert _audits("reports.viewed") == viewed


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_platform_page_reads_its_month_range_from_the_address(db: Database) -> None:
    a = make_tenant("clinic-a")
    make_case(a)
    admin, _ = make_user("admin@p.test", platform_role="platform_admin")
    token = sign_in_token(admin)
    before = _audits("reports.platform_viewed")
    state, visited = asyncio.run(_open(PlatformReportsState, token, "/platform/reports"))
    assert visited == ["/platform/reports"] and state.error == ""
    assert state.usage and state.usage[0]["key"] == "usage"
    assert _audits("reports.platform_viewed") == before + 1
    bad, visited = asyncio.run(_open(PlatformReportsState, token, "/platform/reports?from=2026-13"))
    assert visited[-1] == "/platform/reports" and bad.problem
