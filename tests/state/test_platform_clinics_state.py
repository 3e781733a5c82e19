"""/platform/clinics handlers, and what the patient and staff pages' handlers show for a
suspended clinic."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401  (registers every state)
from mi_portal.db import platform_session
from mi_portal.models import Role, Tenant
from mi_portal.services import clinic_lifecycle, clock, tenancy
from mi_portal.services.actor import Actor
from mi_portal.state import quote_page, reply
from mi_portal.state.clinics import ClinicPickerState
from mi_portal.state.intake import IntakeState
from mi_portal.state.platform_clinics import PlatformClinicsState, address
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token, two_clinics
from tests.quote_helpers import catalog, sample_form, sent_quote, staff
from tests.reply_helpers import clinic_writes
from tests.state.test_inbox_state import _redirect_path
from tests.state.test_quote_page_state import handle as quote_handle
from tests.state.test_reply_state import handle as reply_handle


async def _in_one_tab(
    cls: type[rx.State], token: str, query: dict[str, str], *steps: tuple[str, tuple[Any, ...]]
) -> tuple[Any, list[Any]]:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}", "user-agent": "pytest"},
            "ip": "127.0.0.1",
            "pathname": "/platform/clinics",
            "asPath": "/platform/clinics" + ("?" + urlencode(query) if query else ""),
        }
    )
    state = await root.get_state(cls)
    results = []
    for name, args in steps:
        results.append(await cls.event_handlers[name].fn(state, *args))
    return state, results


def tab(
    token: str, *steps: tuple[str, tuple[Any, ...]], query: dict[str, str] | None = None
) -> tuple[Any, list[Any]]:
    return asyncio.run(_in_one_tab(PlatformClinicsState, token, query or {}, *steps))


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a = make_tenant("lakeside", "Lakeside Dermatology")
    b = make_tenant("birch", "Birch Clinic")
    admin, _ = make_user("admin@mi.test", platform_role="platform_admin")
    support, _ = make_user("support@mi.test", platform_role="platform_support")
    owner, secret = make_user("owner@lakeside.test", role="clinic_owner", tenants=(a,))
    return {
        "a": a, "b": b, "admin": admin, "support": support, "owner": owner, "secret": secret,
    }  # fmt: skip


def _slug_status(state: Any) -> dict[str, str]:
    return {r["slug"]: r["status"] for r in state.rows}


def test_the_list_follows_the_address(world: dict[str, Any]) -> None:
    token = sign_in_token(world["admin"])
    admin = Actor(user_id=world["admin"], role=Role.PLATFORM_ADMIN)
    clinic_lifecycle.suspend(admin, world["b"], "Unpaid since March")
    state, _ = tab(token, ("load", ()))
    assert state.blocked == "" and state.can_manage
    assert _slug_status(state) == {"birch": "suspended", "lakeside": "active"}
    state, _ = tab(token, ("load", ()), query={"status": "suspended"})
    assert state.status == "suspended" and list(_slug_status(state)) == ["birch"]
    state, _ = tab(token, ("load", ()), query={"status": "bogus", "q": "lake"})
    assert state.status == "" and state.search == "lake"
    assert list(_slug_status(state)) == ["lakeside"]
    state, _ = tab(token, ("load", ()), query={"q": "nothing-like-it"})
    assert state.rows == []
    # Searching goes through the address: the handler only redirects.
    _state, [result] = tab(token, ("apply_search", ({"q": " derm "},)), query={"status": "active"})
    assert _redirect_path(result) == "/platform/clinics?status=active&q=derm"
    assert address("", "") == "/platform/clinics"


def test_support_reads_the_list_and_cannot_change_it(world: dict[str, Any]) -> None:
    token = sign_in_token(world["support"])
    state, _ = tab(token, ("load", ()))
    assert state.blocked == "" and not state.can_manage and len(state.rows) == 2
    lakeside = next(r for r in state.rows if r["slug"] == "lakeside")
    state, _ = tab(
        token, ("load", ()), ("ask", ("suspend", lakeside["id"])), ("confirm", ()),
    )  # fmt: skip
    assert state.confirming == ""
    with platform_session() as session:
        row = session.get(Tenant, world["a"])
        assert row is not None and row.status == "active"


def test_clinic_staff_and_switched_in_staff_are_kept_out(world: dict[str, Any]) -> None:
    state, _ = tab(sign_in_token(world["owner"]), ("load", ()))
    assert state.blocked == "denied" and state.rows == []
    from mi_portal.services import auth

    token = sign_in_token(world["support"])
    signed = auth.resolve(token)
    assert signed is not None
    tenancy.switch_into(signed, world["a"], "Looking at a support ticket")
    state, _ = tab(token, ("load", ()))
    assert state.blocked == "leave" and state.rows == []


def test_a_new_clinic_keeps_what_was_typed_through_errors(world: dict[str, Any]) -> None:
    token = sign_in_token(world["admin"])
    typed = {
        "name": "Harbour Skin", "slug": "lakeside", "timezone": "Europe/Paris",
        "locale": "fr_FR", "currency": "EUR", "jurisdiction": "FR",
        "owner_email": "hana@harbour.test", "owner_name": "Hana Harbour",
    }  # fmt: skip
    steps = [("load", ()), ("open_new", ())]
    steps += [("set_field", (k, v)) for k, v in typed.items()]
    state, _ = tab(token, *steps, ("create", ()))
    assert state.creating and set(state.form_errors) == {"slug"}
    assert "already has that address" in state.form_errors["slug"]
    assert state.form == typed  # nothing lost
    state, _ = tab(token, *steps, ("set_field", ("slug", "harbour-skin")), ("create", ()))
    assert not state.creating and state.form_errors == {}
    assert state.invite_link.endswith(state.invite_link.split("token=")[1])
    assert "/invite?token=" in state.invite_link
    assert "harbour-skin" in _slug_status(state)


def test_suspend_needs_a_reason_then_reactivate(world: dict[str, Any]) -> None:
    token = sign_in_token(world["admin"])
    state, _ = tab(token, ("load", ()))
    lakeside = next(r for r in state.rows if r["slug"] == "lakeside")
    state, _ = tab(
        token, ("load", ()), ("ask", ("suspend", lakeside["id"])), ("set_text", ("  ",)),
        ("start", ()), ("confirm", ()),
    )  # fmt: skip
    assert state.confirming == "suspend" and "Write why" in state.dialog_error
    assert not state.working
    state, _ = tab(
        token, ("load", ()), ("ask", ("suspend", lakeside["id"])),
        ("set_text", ("Contract under review",)), ("confirm", ()),
    )  # fmt: skip
    assert state.confirming == "" and "is suspended" in state.notice
    assert _slug_status(state)["lakeside"] == "suspended"
    state, _ = tab(token, ("load", ()), ("ask", ("reactivate", lakeside["id"])), ("confirm", ()))
    assert _slug_status(state)["lakeside"] == "active" and "active again" in state.notice
    # An id not on the page opens no dialog.
    state, _ = tab(token, ("load", ()), ("ask", ("suspend", str(uuid.uuid4()))))
    assert state.confirming == ""


def test_offboarding_asks_for_the_typed_address(world: dict[str, Any]) -> None:
    token = sign_in_token(world["admin"])
    state, _ = tab(token, ("load", ()))
    birch = next(r for r in state.rows if r["slug"] == "birch")
    state, _ = tab(
        token, ("load", ()), ("ask", ("offboard", birch["id"])), ("set_text", ("birc",)),
        ("confirm", ()),
    )  # fmt: skip
    assert state.confirming == "offboard" and state.text == "birc"
    assert "exactly" in state.dialog_error
    state, _ = tab(
        token, ("load", ()), ("ask", ("offboard", birch["id"])), ("set_text", ("birch",)),
        ("confirm", ()),
    )  # fmt: skip
    assert state.confirming == "" and "is closed" in state.notice
    assert _slug_status(state)["birch"] == "closed"


# --- what other pages' handlers show while a clinic is suspended ------------------------------


def _intake(slug: str) -> IntakeState:
    async def go() -> IntakeState:
        root = rx.State(_reflex_internal_init=True)
        path = f"/c/{slug}/consult" if slug else "/consult"
        root.router = RouterData.from_router_data(
            {
                "headers": {"user-agent": "pytest"},
                "ip": "198.51.100.7",
                "pathname": path,
                "query": {"slug": slug} if slug else {},
            }
        )
        state = await root.get_state(IntakeState)
        assert isinstance(state, IntakeState)
        await IntakeState.event_handlers["load"].fn(state)
        return state

    return asyncio.run(go())


def test_patient_pages_of_a_suspended_clinic_say_so(db: Database) -> None:
    w = two_clinics()
    reply_token = clinic_writes(w.a, w.a_submission, "Please send a closer photo.")
    valid = (clock.now().date() + timedelta(days=30)).isoformat()
    _quote, quote_token = sent_quote(staff(w.a), w.a_submission, sample_form(catalog(w.a), valid))
    admin_id, _ = make_user("admin@mi.test", platform_role="platform_admin")
    admin = Actor(user_id=admin_id, role=Role.PLATFORM_ADMIN)
    clinic_lifecycle.suspend(admin, w.a, "Regulator inspection")
    page = _intake("clinic-a")
    assert page.closed_clinic and not page.unknown_clinic and page.clinic_name == "Clinic-A"
    assert page.chosen == []
    assert not _intake("clinic-b").closed_clinic
    unknown = _intake("no-such-clinic")
    assert unknown.unknown_clinic and not unknown.closed_clinic
    assert [c["slug"] for c in _intake("").directory] == ["clinic-b"]
    state = reply_handle(reply_token, ("load", ()))
    assert state.invalid and state.error == reply.UNAVAILABLE and state.messages == []
    state = quote_handle(quote_token, ("load", ()))
    assert state.invalid and state.error == quote_page.UNAVAILABLE
    clinic_lifecycle.reactivate(admin, w.a)
    assert not _intake("clinic-a").closed_clinic
    assert not reply_handle(reply_token, ("load", ())).invalid
    assert not quote_handle(quote_token, ("load", ())).invalid


def test_switching_into_a_suspended_clinic_says_why(world: dict[str, Any]) -> None:
    admin = Actor(user_id=world["admin"], role=Role.PLATFORM_ADMIN)
    clinic_lifecycle.suspend(admin, world["a"], "Regulator inspection")
    token = sign_in_token(world["support"])
    state, _ = asyncio.run(
        _in_one_tab(
            ClinicPickerState, token, {},
            ("switch_in", ({"tenant_id": str(world["a"]), "reason": "Checking a ticket"},)),
        )
    )  # fmt: skip
    assert state.error.startswith("Lakeside Dermatology is suspended")


def test_the_sign_in_page_says_the_clinic_is_suspended(world: dict[str, Any]) -> None:
    from tests.api.test_auth_routes import MINE, PLAIN_NAME, _sign_in

    admin = Actor(user_id=world["admin"], role=Role.PLATFORM_ADMIN)
    clinic_lifecycle.suspend(admin, world["a"], "Regulator inspection")
    cookie = f"{PLAIN_NAME}={MINE}"
    state, result = asyncio.run(_sign_in(cookie, "owner@lakeside.test", "unused"))
    assert result is None and state.step == "password"
    assert state.error == "Lakeside Dermatology is suspended; contact MI Portal support."
    clinic_lifecycle.reactivate(admin, world["a"])
    state, result = asyncio.run(_sign_in(cookie, "owner@lakeside.test", world["secret"]))
    assert state.error == "" and "ticket=" in repr(result)
