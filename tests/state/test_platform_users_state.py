"""The /platform/users handlers through the real guard with real session cookies: the gate, the
search from the address, the invitation form's errors, and dialogs that act only on rows shown."""

from __future__ import annotations

import asyncio
import urllib.parse
import uuid
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401  (registers every page and state)
from mi_portal.models import User
from mi_portal.services import auth, tenancy
from mi_portal.state.platform_users import PlatformUsersState as S
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session, sign_in_token

PATH = "/platform/users"


def page(cls: type[rx.State], token: str, path: str, query: dict[str, str], *steps: Any):  # type: ignore[no-untyped-def]
    """Open ``path?query`` in a fresh tab signed in with ``token``, then run ``steps`` in turn."""

    async def go() -> tuple[Any, Any]:
        root = rx.State(_reflex_internal_init=True)
        root.router = RouterData.from_router_data(
            {
                "headers": {"cookie": f"mi_session={token}"},
                "ip": "127.0.0.1",
                "pathname": path,
                "asPath": path + ("?" + urllib.parse.urlencode(query) if query else ""),
                "query": query,
            }
        )
        state = await root.get_state(cls)
        result = await cls.event_handlers["load"].fn(state)
        for name, args in steps:
            result = await cls.event_handlers[name].fn(state, *args)
        return state, result

    return asyncio.run(go())


@pytest.fixture
def world(db: Database):  # type: ignore[no-untyped-def]
    a = make_tenant("clinic-a", "Lakeside")
    admin, _ = make_user("admin@platform.test", platform_role="platform_admin")
    support, _ = make_user("support@platform.test", platform_role="platform_support")
    coord, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    switched = sign_in_token(make_user("in@platform.test", platform_role="platform_admin")[0])
    signed = auth.resolve(switched)
    assert signed is not None
    tenancy.switch_into(signed, str(a), "Ticket 7: clinic asked for help")
    return {
        "admin_id": admin,
        "coord_id": coord,
        "admin": sign_in_token(admin),
        "support": sign_in_token(support),
        "switched": switched,
    }


def _enrolled(user_id: uuid.UUID) -> bool:
    with owner_session() as session:
        user = session.exec(select(User).where(User.id == user_id)).one()
        return user.totp_enabled_at is not None


def test_gate_sends_support_away_and_a_switched_admin_out_first(world) -> None:  # type: ignore[no-untyped-def]
    support, _ = page(S, world["support"], PATH, {})
    assert support.blocked == "denied" and support.staff == []
    switched, _ = page(S, world["switched"], PATH, {"q": "coord"})
    assert switched.blocked == "leave" and switched.results == []


def test_search_comes_from_the_address(world) -> None:  # type: ignore[no-untyped-def]
    state, _ = page(S, world["admin"], PATH, {"q": " coord@a "})
    assert state.blocked == "" and state.query == "coord@a"
    (row,) = state.results
    assert row["email"] == "coord@a.test" and row["clinics"] == [
        {"name": "Lakeside", "role": "Coordinator"}
    ]
    assert [r["email"] for r in state.staff if r["is_self"]] == ["admin@platform.test"]
    _, redirect = page(S, world["admin"], PATH, {}, ("search", ({"q": "a b&c"},)))
    assert "/platform/users?q=a%20b%26c" in repr(redirect)


def test_reset_acts_only_on_a_row_shown_and_needs_a_reason(world) -> None:  # type: ignore[no-untyped-def]
    coord = str(world["coord_id"])
    # Not among the rows shown (no search): the dialog never opens, nothing happens.
    state, _ = page(
        S, world["admin"], PATH, {}, ("ask", ("reset", coord, "")), ("confirm_reset", ())
    )
    assert state.confirming == "" and _enrolled(world["coord_id"])
    # One's own row opens nothing either.
    own, _ = page(S, world["admin"], PATH, {}, ("ask", ("disable", str(world["admin_id"]), "")))
    assert own.confirming == ""

    state, _ = page(
        S, world["admin"], PATH, {"q": "coord"}, ("ask", ("reset", coord, "")), ("confirm_reset", ())
    )  # fmt: skip
    assert state.confirming == "reset" and "Give a reason" in state.dialog_error
    assert _enrolled(world["coord_id"])
    state, _ = page(
        S, world["admin"], PATH, {"q": "coord"}, ("ask", ("reset", coord, "")),
        ("set_reason", ("Lost phone, checked by call",)), ("confirm_reset", ()),
    )  # fmt: skip
    assert state.confirming == "" and "second factor was reset" in state.notice
    assert not _enrolled(world["coord_id"]) and state.results[0]["mfa"] is False


def test_invite_errors_are_per_field(world) -> None:  # type: ignore[no-untyped-def]
    bad = {"full_name": "Kim Lee", "email": "coord@a.test", "role": "platform_support"}
    state, _ = page(S, world["admin"], PATH, {}, ("invite", (bad,)))
    assert set(state.invite_errors) == {"email"} and "stay separate" in state.invite_errors["email"]
    state, _ = page(S, world["admin"], PATH, {}, ("invite", ({**bad, "full_name": ""},)))
    assert set(state.invite_errors) == {"full_name"}
    good = {**bad, "email": "kim@platform.test"}
    state, _ = page(S, world["admin"], PATH, {}, ("invite", (good,)))
    assert state.invite_errors == {} and "Invitation sent" in state.notice
    (kim,) = [r for r in state.staff if r["email"] == "kim@platform.test"]
    assert kim["status"] == "invited" and kim["role"] == "platform_support"
