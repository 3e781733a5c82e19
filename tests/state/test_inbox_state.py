"""The inbox keeps only the visible page in browser state, whatever the clinic's size."""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from datetime import timedelta

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import col, select

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
    result = await InboxState.event_handlers["load"].fn(state)
    if isinstance(result, rx.event.EventSpec):
        # The page replaced its address (a text search by its handle): load that one, as the
        # browser does, in the same tab.
        root.router = RouterData.from_router_data(
            {
                "headers": {"cookie": f"mi_session={token}"},
                "ip": "127.0.0.1",
                "pathname": "/cases",
                "asPath": _redirect_path(result),
            }
        )
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


def test_rows_carry_only_what_the_table_shows(db: Database) -> None:
    """Every field of a row in browser state is read by the page's table (bench/pages.py)."""
    import mi_portal.pages.inbox as page

    shown = set(re.findall(r'row\["(\w+)"\]', inspect.getsource(page)))
    a = make_tenant("clinic-a")
    user, _ = make_user("m@a.test", role="clinic_manager", tenants=(a,))
    _many(a, 3)
    state = asyncio.run(_load(sign_in_token(user), ""))
    assert len(state.rows) == 3
    for row in state.rows:
        assert set(row) <= shown, set(row) - shown
        assert row["status_label"] == "New" and row["concern_label"] == "Acne"
    # What the table shows is all there.
    assert {"reference", "patient", "contact", "received_at", "sla_due_at", "held"} <= set(
        state.rows[0]
    )


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


async def _run(token: str, query: str, handler: str, *args: object) -> tuple[InboxState, object]:
    state = await _load(token, query)
    result = await InboxState.event_handlers[handler].fn(state, *args)
    return state, result


def _redirect_path(result: object) -> str:
    assert isinstance(result, rx.event.EventSpec), result
    assert result.handler.fn.__qualname__.endswith("_redirect"), result
    return dict((k._js_expr, v._var_value) for k, v in result.args)["path"]  # type: ignore[attr-defined]


def test_the_controls_show_exactly_the_urls_view(db: Database) -> None:
    a = make_tenant("clinic-a")
    user, _ = make_user("m@a.test", role="clinic_manager", tenants=(a,))
    _many(a, 3)
    token = sign_in_token(user)
    state = asyncio.run(_load(token, "?concern_area=acne&sort=received&desc=1"))
    assert state.view == state.filters == {"concern_area": "acne", "sort": "received", "desc": "1"}
    assert state.total == 3 and state.rows[0]["patient"].startswith("Patient 000")  # newest
    # A plain /cases after that view resets every control, the typed search included.
    state.view = {**state.view, "search": "typed but not applied"}
    asyncio.run(InboxState.event_handlers["load"].fn(state))
    assert state.view == {"concern_area": "acne", "sort": "received", "desc": "1"}
    plain = asyncio.run(_load(token, "?sort=received"))
    assert plain.view == plain.filters == {"sort": "received"}
    assert plain.rows[0]["patient"].startswith("Patient 002")


def test_values_no_control_can_show_are_dropped_from_the_url(db: Database) -> None:
    a = make_tenant("clinic-a")
    user, _ = make_user("m@a.test", role="clinic_manager", tenants=(a,))
    token = sign_in_token(user)

    async def go() -> object:
        root = rx.State(_reflex_internal_init=True)
        root.router = RouterData.from_router_data(
            {
                "headers": {"cookie": f"mi_session={token}"},
                "pathname": "/cases",
                "asPath": "/cases?concern_area=nails&sort=sla_due&unread=yes&status=new&page=x",
            }
        )
        state = await root.get_state(InboxState)
        return state, await InboxState.event_handlers["load"].fn(state)

    state, result = asyncio.run(go())  # type: ignore[misc]
    assert state.view == {"status": "new"}
    assert _redirect_path(result) == "/cases?status=new"


def test_each_change_keeps_everything_else_that_is_shown(db: Database) -> None:
    a = make_tenant("clinic-a")
    user, _ = make_user("m@a.test", role="clinic_manager", tenants=(a,))
    token = sign_in_token(user)
    shown = "?status=new&concern_area=acne"
    _, mine = asyncio.run(_run(token, shown, "choose", "assignee", "mine"))
    assert _redirect_path(mine) == "/cases?status=new&assignee=mine&concern_area=acne"
    _, unread = asyncio.run(_run(token, shown, "tick", "unread", True))
    assert _redirect_path(unread) == "/cases?status=new&concern_area=acne&unread=1"
    _, cleared = asyncio.run(_run(token, shown + "&desc=1&page=2", "tick", "desc", False))
    assert _redirect_path(cleared) == "/cases?status=new&concern_area=acne"
    _, searched = asyncio.run(
        _run(token, shown, "apply_filters", {"search": "3328", "received_from": ""})
    )
    # A text search goes to the address as an opaque handle, never as typed.
    assert _redirect_path(searched).startswith("/cases?status=new&concern_area=acne&q=")
    assert "3328" not in _redirect_path(searched)
    _, by_reference = asyncio.run(
        _run(token, shown, "apply_filters", {"search": "1A2B3C4D", "received_from": ""})
    )
    assert _redirect_path(by_reference) == "/cases?status=new&concern_area=acne&search=1A2B3C4D"
    _, tab = asyncio.run(_run(token, shown, "show_status", ""))
    assert _redirect_path(tab) == "/cases?concern_area=acne"


def test_platform_staff_outside_a_clinic_are_told_to_switch(db: Database) -> None:
    make_tenant("clinic-a")
    admin, _ = make_user("admin@p.test", platform_role="platform_admin")
    support, _ = make_user("support@p.test", platform_role="platform_support")
    state, result = asyncio.run(_run(sign_in_token(admin), "", "load"))
    assert result is None and state.blocked == "switch" and not state.loading
    assert state.rows == [] and state.error == ""
    other, result = asyncio.run(_run(sign_in_token(support), "", "load"))
    assert result is None and other.blocked == "denied" and not other.loading


def test_rows_carry_labels_and_whether_they_are_mine(db: Database) -> None:
    a = make_tenant("clinic-a")
    user, _ = make_user("m@a.test", role="clinic_manager", tenants=(a,))
    _many(a, 2)
    with tenant_session(a) as session:
        first = session.exec(select(Submission).order_by(col(Submission.received_at))).first()
        assert first is not None
        first.assignee_id, first.concern_area = user, "scarring"
        session.add(first)
        session.commit()
    state = asyncio.run(_load(sign_in_token(user), "?sort=received"))
    assert [(r["mine"], r["concern_label"], r["status_label"]) for r in state.rows] == [
        (True, "Scars", "New"),
        (False, "Acne", "New"),
    ]
    assert state.all_count == 2


def test_a_text_search_never_reaches_the_address_and_its_handle_shows_it_again(
    db: Database,
) -> None:
    a = make_tenant("clinic-a")
    manager, _ = make_user("m@a.test", role="clinic_manager", tenants=(a,))
    _many(a, 3)
    token = sign_in_token(manager)

    async def scenario() -> tuple[str, InboxState, object]:
        state = await _load(token, "")
        typed = await InboxState.event_handlers["apply_filters"].fn(
            state, {"search": "p1@example", "received_from": "", "received_to": ""}
        )
        address = _redirect_path(typed)
        # Back/forward or a reload of that address in this tab shows the same search.
        state.router = RouterData.from_router_data(
            {
                "headers": {"cookie": f"mi_session={token}"},
                "ip": "127.0.0.1",
                "pathname": "/cases",
                "asPath": address,
            }
        )
        again = await InboxState.event_handlers["load"].fn(state)
        return address, state, again

    address, state, again = asyncio.run(scenario())
    assert "p1" not in address and "example" not in address and "q=" in address
    assert again is None and state.view.get("search") == "p1@example" and state.total == 1
    # Another tab (or anyone given the address) gets no search out of the handle.
    elsewhere = asyncio.run(_load(token, "?" + address.split("?", 1)[1]))
    assert "search" not in elsewhere.view and elsewhere.notice.startswith("That search")
    assert elsewhere.total == 3


def test_the_queue_and_its_thumbnails_are_read_through_one_session(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page and its first thumbnails share the session the page lends them; a failure of
    either is told the same way, with nothing listed."""
    from mi_portal.db import ScopedSession
    from mi_portal.services import photos
    from mi_portal.state import inbox as inbox_state

    a = make_tenant("clinic-a")
    user, _ = make_user("m@a.test", role="clinic_manager", tenants=(a,))
    _many(a, 3)
    token = sign_in_token(user)
    lent: dict[str, object] = {}
    fail: set[str] = set()

    def lending(name: str, real):  # type: ignore[no-untyped-def]
        def read(*args, **kwargs):  # type: ignore[no-untyped-def]
            lent[name] = kwargs.get("lent")
            if name in fail:
                raise RuntimeError("database went away")
            return real(*args, **kwargs)

        return read

    monkeypatch.setattr(inbox_state, "inbox_page", lending("page", inbox_state.inbox_page))
    monkeypatch.setattr(photos, "first_thumbnails", lending("thumbnails", photos.first_thumbnails))
    state = asyncio.run(_load(token, ""))
    assert len(state.rows) == 3 and not state.error
    assert isinstance(lent["page"], ScopedSession) and lent["thumbnails"] is lent["page"]

    fail.add("thumbnails")
    state = asyncio.run(_load(token, ""))
    assert (
        state.rows == [] and state.error == "The case list could not be loaded. Please try again."
    )
