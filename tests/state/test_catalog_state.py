"""The catalog page's handlers: another clinic's rows are never listed, edited or deactivated."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401
from mi_portal.models import Role
from mi_portal.services import catalog
from mi_portal.services.actor import Actor
from mi_portal.state.catalog import CatalogState
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    b_owner, _ = make_user("owner@b.test", role="clinic_owner", tenants=(b,))
    b_actor = Actor(user_id=b_owner, role=Role.CLINIC_OWNER, tenant_id=b)
    tax = catalog.save_tax_class(b_actor, None, name="B tax", rate="10")
    item = catalog.save_item(b_actor, None, name="B item", unit_price="10", tax_class_id=tax)
    pkg = catalog.save_package(
        b_actor, None, name="B pkg", price="9", items=[{"item_id": item, "quantity": 1}]
    )
    return {
        "token": sign_in_token(manager),
        "a": a,
        "b": b_actor,
        "tax": tax,
        "item": item,
        "pkg": pkg,
    }


async def _in_one_tab(token: str, *steps: tuple[str, tuple[Any, ...]] | dict[str, Any]) -> Any:
    """Run handlers (and set vars, for a dict step) on one state, as one browser tab would."""
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": f"mi_session={token}", "user-agent": "pytest"}, "ip": "127.0.0.1"}
    )
    state = await root.get_state(CatalogState)
    for step in steps:
        if isinstance(step, dict):
            for key, value in step.items():
                setattr(state, key, value)
        else:
            name, args = step
            await CatalogState.event_handlers[name].fn(state, *args)
    return state


def tab(token: str, *steps: tuple[str, tuple[Any, ...]] | dict[str, Any]) -> Any:
    return asyncio.run(_in_one_tab(token, *steps))


def _b_unchanged(world: dict[str, Any]) -> None:
    b = world["b"]
    assert [(i.name, i.unit_price, i.active) for i in catalog.list_items(b)] == [
        ("B item", Decimal("10.00"), True)
    ]
    assert [(t.name, t.active) for t in catalog.list_tax_classes(b)] == [("B tax", True)]
    assert [(p.name, p.active) for p in catalog.list_packages(b)] == [("B pkg", True)]


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_foreign_ids_reach_nothing_through_the_handlers(world: dict[str, Any]) -> None:
    token = world["token"]
    state = tab(token, ("load", ()))
    assert state.items == [] and state.taxes == [] and state.packages == []
    for kind, key in (("item", "item"), ("tax", "tax"), ("package", "pkg")):
        for target in (world[key], str(uuid.uuid4())):
            state = tab(token, ("load", ()), ("reactivate", (kind, target)))
            assert state.errors == {"form": "That entry was not found. It may have been removed."}
            state = tab(token, ("load", ()), ("ask_deactivate", (kind, target)))
            assert state.confirm_id == ""
            # Even a confirmation forged into the tab's state deactivates nothing.
            state = tab(
                token,
                ("load", ()),
                {"confirm_kind": kind, "confirm_id": target},
                ("deactivate", ()),
            )
            assert "not found" in state.errors["form"]
            state = tab(token, ("load", ()), ("edit", (kind, target)))
            assert state.editing == ""
    # A forged edit (the form's row id set by hand) answers like a missing row; B is unchanged.
    answers = []
    for target in (world["item"], str(uuid.uuid4())):
        state = tab(
            token,
            ("load", ()),
            {"editing": f"item:{target}", "form": {"name": "Mine now", "unit_price": "1"}},
            ("save", ()),
        )
        answers.append(state.errors)
    assert answers[0] == answers[1] != {}
    # B's tax class on A's item reads as an unknown choice.
    state = tab(
        token,
        ("load", ()),
        {"form": {"name": "Mine", "unit_price": "1", "tax_class_id": world["tax"]}},
        ("save", ()),
    )
    assert "tax_class_id" in state.errors
    # B's item in A's package answers like a missing one.
    state = tab(
        token,
        {"tab": "packages"},
        {"form": {"name": "Mine", "price": "1", "tax_class_id": "none"}},
        {"package_lines": [{"item_id": world["item"], "name": "x", "quantity": "1"}]},
        ("save", ()),
    )
    assert "not found" in state.errors["form"]
    _b_unchanged(world)
    assert catalog.list_items(Actor(None, Role.CLINIC_OWNER, tenant_id=world["a"])) == []


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_a_manager_adds_a_tax_class_and_an_item(world: dict[str, Any]) -> None:
    token = world["token"]
    state = tab(
        token,
        {"tab": "taxes"},
        ("new", ()),
        {"form": {"name": "Standard 20 %", "rate": "20"}},
        ("save", ()),
    )
    assert state.notice and [t["rate_text"] for t in state.taxes] == ["20 %"]
    tax_id = state.taxes[0]["id"]
    typed = {
        "name": "Lip filler",
        "description": "",
        "category": "Injectables",
        "unit_label": "syringe",
        "unit_price": "12O",  # a typo: refused, and what was typed stays
        "price_from": True,
        "tax_class_id": tax_id,
    }
    state = tab(token, ("load", ()), {"form": dict(typed)}, ("save", ()))
    assert state.errors == {"unit_price": "Price must be a number like 120.00."}
    assert state.form == typed and state.items == []
    state = tab(token, ("load", ()), {"form": {**typed, "unit_price": "1320.5"}}, ("save", ()))
    assert state.errors == {}
    [row] = state.items
    assert row["price_text"] == "from $1,320.50"
    assert row["tax_text"] == "Standard 20 % (20 %)"
    state = tab(
        token,
        {"tab": "defaults"},
        ("load", ()),
        {"defaults": {"currency": "EUR", "locale": "de_DE", "quote_valid_days": "30",
                      "quote_terms": ""}},
        ("save_defaults", ()),
    )  # fmt: skip
    assert "1 items are now priced in EUR" in state.notice
    assert state.items[0]["price_text"] == "from 1.320,50\xa0€"
    _b_unchanged(world)


def test_items_are_listed_a_page_at_a_time(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mi_portal.state import catalog as catalog_state

    monkeypatch.setattr(catalog_state, "PAGE_SIZE", 2)
    a = Actor(None, Role.CLINIC_OWNER, tenant_id=world["a"])
    for name in ("Alpha", "Beta", "Gamma"):
        catalog.save_item(a, None, name=name, unit_price="1", category="Skin")
    state = tab(world["token"], ("load", ()))
    assert [i["name"] for i in state.items] == ["Alpha", "Beta"]
    assert state.page_label == "1–2 of 3" and state.has_next
    assert state.categories == ["Skin"]
    result = asyncio.run(_next_page_address(world["token"]))
    assert "page=2" in result
    state = tab(world["token"], {"page": 1}, ("load", ()))
    assert state.page == 0  # the URL (no page) decides, not what the tab held


async def _next_page_address(token: str) -> str:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": f"mi_session={token}", "user-agent": "pytest"}, "ip": "127.0.0.1"}
    )
    state = await root.get_state(CatalogState)
    await CatalogState.event_handlers["load"].fn(state)
    return repr(await CatalogState.event_handlers["turn_page"].fn(state, 1))
