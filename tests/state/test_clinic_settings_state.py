"""The clinic settings page's handlers: each section saves on its own, a refusal keeps what was
typed, the logo upload goes through the image checks, managers read only, others are refused."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
from PIL import Image
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401
from mi_portal.db import platform_session
from mi_portal.models import Tenant
from mi_portal.state.clinic_settings import ClinicSettingsState
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a", "Clinic A"), make_tenant("clinic-b", "Clinic B")
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    coordinator, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    return {"a": a, "b": b, "owner": owner, "manager": manager, "coordinator": coordinator}


async def _in_one_tab(token: str, *steps: tuple[str, tuple[Any, ...]]) -> tuple[Any, list[Any]]:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": f"mi_session={token}", "user-agent": "pytest"}, "ip": "127.0.0.1"}
    )
    state = await root.get_state(ClinicSettingsState)
    results = []
    for name, args in steps:
        results.append(await ClinicSettingsState.event_handlers[name].fn(state, *args))
    return state, results


def tab(token: str, *steps: tuple[str, tuple[Any, ...]]) -> tuple[Any, list[Any]]:
    return asyncio.run(_in_one_tab(token, *steps))


def _tenant(tenant_id: Any) -> Tenant:
    with platform_session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant


def _png() -> rx.UploadFile:
    out = io.BytesIO()
    Image.new("RGBA", (40, 20), (200, 0, 0, 255)).save(out, format="PNG")
    return rx.UploadFile(file=io.BytesIO(out.getvalue()), path=Path("logo.png"))


def test_owner_saves_each_section_and_a_refusal_keeps_what_was_typed(
    world: dict[str, Any],
) -> None:
    token = sign_in_token(world["owner"])
    state, _ = tab(token, ("load", ()))
    assert state.blocked == "" and state.can_manage
    assert state.name == "Clinic A" and state.timezone == "UTC"
    assert state.consult_url.endswith("/c/clinic-a/consult")
    assert state.embed_snippet == f'<a href="{state.consult_url}">Send us your photos</a>'

    # The form's own values are what is saved (Enter submits without leaving the field).
    state, _ = tab(
        token,
        ("load", ()),
        ("set_field", ("contact_email", "not an address")),
        (
            "save_profile",
            (
                {
                    "name": "Clinic A Skin",
                    "contact_email": "not an address",
                    "contact_phone": "",
                    "address": "",
                },
            ),
        ),
    )
    assert set(state.errors) == {"contact_email"}
    assert state.name == "Clinic A Skin" and state.contact_email == "not an address"
    assert "profile" not in state.notices
    assert _tenant(world["a"]).name == "Clinic A"

    state, _ = tab(
        token,
        ("load", ()),
        ("set_field", ("name", "Clinic A Skin")),
        ("set_field", ("contact_email", "Desk@A.test")),
        ("save_profile", ()),
        ("set_field", ("brand_color", "#eeeeee")),
        ("save_branding", ()),
    )
    assert state.notices["profile"] == "Profile saved."
    assert state.contact_email == "desk@a.test"  # shown as saved
    assert "1.16:1" in state.errors["brand_color"] and state.brand_color == "#eeeeee"
    assert _tenant(world["a"]).name == "Clinic A Skin"
    assert _tenant(world["a"]).brand_color == ""

    state, _ = tab(
        token,
        ("load", ()),
        ("set_field", ("brand_color", "#1D4ED8")),
        ("save_branding", ()),
        ("set_field", ("timezone", "Europe/Paris")),
        ("set_field", ("currency", "EUR")),
        ("save_regional", ()),
        ("set_field", ("not_a_field", "x")),
    )
    assert state.errors == {}
    assert state.brand_color == "#1d4ed8" and state.picker_color == "#1d4ed8"
    assert state.notices["regional"] == "Regional settings saved."
    saved = _tenant(world["a"])
    assert (saved.brand_color, saved.timezone, saved.currency) == ("#1d4ed8", "Europe/Paris", "EUR")
    assert _tenant(world["b"]).timezone == "UTC"


def test_logo_upload_and_removal_after_confirming(world: dict[str, Any]) -> None:
    token = sign_in_token(world["owner"])
    state, _ = tab(token, ("load", ()), ("upload_logo", ([_png()],)))
    assert state.errors == {} and state.logo_url.startswith("/api/clinic/clinic-a/logo?v=")
    bad = rx.UploadFile(file=io.BytesIO(b"%PDF-1.7"), path=Path("logo.png"))
    state, _ = tab(token, ("load", ()), ("upload_logo", ([bad],)))
    assert "not a JPEG, PNG or WebP" in state.errors["logo"]
    # A bare remove event, without the confirmation, removes nothing.
    tab(token, ("load", ()), ("remove_logo", ()))
    assert _tenant(world["a"]).logo_key is not None
    state, _ = tab(token, ("load", ()), ("ask_remove_logo", ()), ("remove_logo", ()))
    assert state.logo_url == "" and state.notices["logo"] == "Logo removed."
    assert _tenant(world["a"]).logo_key is None


def test_copy_puts_the_servers_own_link_on_the_clipboard(world: dict[str, Any]) -> None:
    state, results = tab(sign_in_token(world["manager"]), ("load", ()), ("copy", ("snippet",)))
    assert state.copied == "snippet"
    assert isinstance(results[1], rx.event.EventSpec)
    _state, nothing = tab(sign_in_token(world["manager"]), ("load", ()), ("copy", ("other",)))
    assert nothing[1] is None


def test_manager_reads_only_and_others_are_refused(world: dict[str, Any]) -> None:
    token = sign_in_token(world["manager"])
    state, _ = tab(
        token,
        ("load", ()),
        ("set_field", ("name", "Manager's Clinic")),
        ("save_profile", ()),
        ("upload_logo", ([_png()],)),
    )
    assert state.blocked == "" and not state.can_manage and state.name == "Clinic A"
    assert _tenant(world["a"]).name == "Clinic A" and _tenant(world["a"]).logo_key is None

    state, _ = tab(sign_in_token(world["coordinator"]), ("load", ()))
    assert state.blocked == "denied" and state.name == "" and state.consult_url == ""
