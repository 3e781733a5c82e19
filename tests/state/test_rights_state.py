"""The privacy-request pages' handlers: the platform's list and detail, the clinic's forwarded
requests; through the real guard with real session cookies."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401
from mi_portal.db import tenant_session
from mi_portal.models import RightsRequestForward
from mi_portal.services import auth, tenancy
from mi_portal.state.rights_forwarded import ForwardedListState, ForwardState
from mi_portal.state.rights_requests import RightsWorkItemState, RightsWorkListState
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token
from tests.services.test_rights import EMAIL, make_patient, make_request

Step = tuple[str, tuple[Any, ...]]


async def _page(cls: type[rx.State], token: str, path: str, query: dict[str, str],
                steps: tuple[Step, ...]) -> tuple[Any, Any]:  # fmt: skip
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}"},
            "ip": "127.0.0.1",
            "pathname": path,
            "query": query,
        }
    )
    state = await root.get_state(cls)
    result = await cls.event_handlers["load"].fn(state)
    for name, args in steps:
        result = await cls.event_handlers[name].fn(state, *args)
    return state, result


def page(cls: type[rx.State], token: str, path: str, query: dict[str, str], *steps: Step):  # type: ignore[no-untyped-def]
    return asyncio.run(_page(cls, token, path, query, steps))


@pytest.fixture
def world(db: Database):  # type: ignore[no-untyped-def]
    a, b = make_tenant("clinic-a", "Lakeside"), make_tenant("clinic-b", "Hillview")
    admin, _ = make_user("admin@platform.test", platform_role="platform_admin")
    owner_a, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    owner_b, _ = make_user("owner@b.test", role="clinic_owner", tenants=(b,))
    coord_a, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    make_patient(a, name="Jo Requester", email=EMAIL)
    make_patient(b, name="Jo Else", email=EMAIL)
    return {
        "a": a,
        "b": b,
        "admin": sign_in_token(admin),
        "owner_a": sign_in_token(owner_a),
        "owner_b": sign_in_token(owner_b),
        "coord_a": sign_in_token(coord_a),
    }


def _forward_id(tenant_id: uuid.UUID) -> str:
    with tenant_session(tenant_id) as session:
        return str(session.exec(select(RightsRequestForward.id)).one())


def test_platform_forwards_from_the_detail_page(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"], world["b"]])
    listing, _ = page(RightsWorkListState, world["admin"], "/privacy/requests", {"status": "open"})
    assert [r["reference"] for r in listing.rows] == [request.reference]
    assert listing.rows[0]["clinic_names"] in ("Lakeside, Hillview", "Hillview, Lakeside")
    detail, _ = page(
        RightsWorkItemState, world["admin"], "/privacy/requests/[reference]",
        {"reference": request.reference}, ("ask", ("forward",)), ("confirm", ()),
    )  # fmt: skip
    assert detail.notice == "Forwarded to 2 clinics."
    assert detail.request["status"] == "forwarded"
    assert [s["action"] for s in detail.timeline] == ["forwarded"]
    # Confirm without asking again does nothing.
    again, _ = page(
        RightsWorkItemState, world["admin"], "/privacy/requests/[reference]",
        {"reference": request.reference}, ("confirm", ()),
    )  # fmt: skip
    assert again.notice == "" and again.error == ""


def test_a_reason_that_is_too_short_keeps_the_dialog_open(world) -> None:  # type: ignore[no-untyped-def]
    request = make_request([world["a"]])
    detail, _ = page(
        RightsWorkItemState, world["admin"], "/privacy/requests/[reference]",
        {"reference": request.reference}, ("ask", ("deny",)), ("set_text", ("no",)),
        ("confirm", ()),
    )  # fmt: skip
    assert detail.confirming == "deny" and "at least" in detail.dialog_error
    assert detail.text == "no"
    assert detail.request["status"] == "pending"


def test_switched_in_staff_are_asked_to_leave_and_clinics_are_refused(world) -> None:  # type: ignore[no-untyped-def]
    make_request([world["a"]])
    signed = auth.resolve(world["admin"])
    assert signed is not None
    tenancy.switch_into(signed, str(world["a"]), "Support ticket 42 for a test")
    listing, _ = page(RightsWorkListState, world["admin"], "/privacy/requests", {})
    assert listing.blocked == "leave" and listing.rows == []
    owner, _ = page(RightsWorkListState, world["owner_a"], "/privacy/requests", {})
    assert owner.blocked == "denied" and owner.rows == []
    coord, _ = page(ForwardedListState, world["coord_a"], "/privacy/forwarded", {})
    assert coord.blocked == "denied"


def test_a_clinic_page_never_opens_another_clinics_forward(world) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.services import rights

    request = make_request([world["a"], world["b"]])
    signed = auth.resolve(world["admin"])
    assert signed is not None
    rights.forward(signed.actor, request.id)
    a_forward, b_forward = _forward_id(world["a"]), _forward_id(world["b"])
    listing, _ = page(ForwardedListState, world["owner_a"], "/privacy/forwarded", {})
    assert [r["id"] for r in listing.rows] == [a_forward]
    foreign, _ = page(
        ForwardState, world["owner_a"], "/privacy/forwarded/[id]", {"id": b_forward},
        ("ask", ("deny",)), ("set_text", ("Not ours at all.",)), ("confirm", ()),
    )  # fmt: skip
    assert foreign.missing and foreign.forward == {} and foreign.patients == []
    with tenant_session(world["b"]) as session:
        assert session.exec(select(RightsRequestForward.status)).one() == "forwarded"

    async def crafted() -> Any:
        # A client opens the dialog on its own request, then sends the confirmation with the
        # other clinic's id in its route: the service, in clinic A's session, finds nothing.
        own, _ = await _page(
            ForwardState, world["owner_a"], "/privacy/forwarded/[id]", {"id": a_forward},
            (("ask", ("deny",)), ("set_text", ("Not ours at all.",))),
        )  # fmt: skip
        assert own.confirming == "deny"
        root = own.parent_state
        root.router = RouterData.from_router_data(
            {"headers": {"cookie": f"mi_session={world['owner_a']}"}, "ip": "127.0.0.1",
             "pathname": "/privacy/forwarded/[id]", "query": {"id": b_forward}}
        )  # fmt: skip
        await ForwardState.event_handlers["confirm"].fn(own)
        return own

    crafted_state = asyncio.run(crafted())
    assert crafted_state.error == "This request was not found."
    with tenant_session(world["b"]) as session:
        assert session.exec(select(RightsRequestForward.status)).one() == "forwarded"
    mine, _ = page(
        ForwardState, world["owner_a"], "/privacy/forwarded/[id]", {"id": a_forward},
        ("ask", ("deny",)), ("set_text", ("We cannot verify who is asking.",)), ("confirm", ()),
    )  # fmt: skip
    assert mine.notice.startswith("Request denied")
    assert mine.forward["status"] == "denied"
    assert [p["full_name"] for p in mine.patients] == ["Jo Requester"]
    assert "Hillview" not in str(mine.forward) and "Jo Else" not in str(mine.patients)


def test_correction_form_keeps_bad_input_and_saves_good(world) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.services import rights

    request = make_request([world["a"]], kind="correction")
    signed = auth.resolve(world["admin"])
    assert signed is not None
    rights.forward(signed.actor, request.id)
    forward_id = _forward_id(world["a"])
    state, _ = page(ForwardState, world["owner_a"], "/privacy/forwarded/[id]", {"id": forward_id})
    patient_id = state.patients[0]["id"]
    bad, _ = page(
        ForwardState, world["owner_a"], "/privacy/forwarded/[id]", {"id": forward_id},
        ("correct", ({"patient_id": patient_id, "email": "nope"},)),
    )  # fmt: skip
    assert bad.correction_error and bad.patients[0]["email"] == EMAIL
    good, _ = page(
        ForwardState, world["owner_a"], "/privacy/forwarded/[id]", {"id": forward_id},
        ("correct", ({"patient_id": patient_id, "full_name": "Jo Q. Requester",
                      "email": EMAIL},)),
    )  # fmt: skip
    assert good.notice == "Corrected: name."
    assert good.patients[0]["full_name"] == "Jo Q. Requester"


def test_erasure_needs_the_typed_reference_and_ends_with_an_answer(world) -> None:  # type: ignore[no-untyped-def]
    from mi_portal.services import rights

    request = make_request([world["a"]], kind="deletion")
    signed = auth.resolve(world["admin"])
    assert signed is not None
    rights.forward(signed.actor, request.id)
    forward_id = _forward_id(world["a"])
    wrong, _ = page(
        ForwardState, world["owner_a"], "/privacy/forwarded/[id]", {"id": forward_id},
        ("ask", ("erase",)), ("set_typed", ("RR-0000-0000",)), ("confirm", ()),
    )  # fmt: skip
    assert wrong.confirming == "erase" and "reference" in wrong.dialog_error
    assert wrong.forward["status"] == "forwarded"
    typed, _ = page(
        ForwardState, world["owner_a"], "/privacy/forwarded/[id]", {"id": forward_id},
        ("ask", ("erase",)), ("set_typed", (request.reference.lower(),)), ("confirm", ()),
    )  # fmt: skip
    assert typed.dialog_error == "" and typed.forward["status"] == "completed"
    with tenant_session(world["a"]) as session:
        assert session.exec(select(RightsRequestForward.status)).one() == "completed"
