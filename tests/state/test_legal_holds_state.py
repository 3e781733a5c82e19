"""The case page's legal-hold card: place, confirm and release; other clinics' ids change nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401
from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, LegalHold
from mi_portal.services.legal_holds import place_hold
from mi_portal.services.permissions import Permission
from mi_portal.state.legal_holds import HoldsState
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, owner_session
from tests.signed_in import signed_in

Step = tuple[str, tuple[Any, ...]]


async def _page(token: str, case_id: object, steps: tuple[Step, ...]) -> tuple[HoldsState, Any]:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}"},
            "ip": "127.0.0.1",
            "pathname": "/cases/[id]",
            "query": {"id": str(case_id)},
        }
    )
    state = await root.get_state(HoldsState)
    result = await HoldsState.event_handlers["load"].fn(state)
    for name, args in steps:
        result = await HoldsState.event_handlers[name].fn(state, *args)
    return state, result


def page(token: str, case_id: object, *steps: Step) -> tuple[HoldsState, Any]:
    return asyncio.run(_page(token, case_id, steps))


def _holds(tenant_id: uuid.UUID) -> list[LegalHold]:
    with tenant_session(tenant_id) as session:
        return list(session.exec(select(LegalHold)))


def _actions(tenant_id: uuid.UUID) -> list[str]:
    with owner_session() as session:
        return list(
            session.exec(
                select(AuditEvent.action).where(
                    AuditEvent.chain == str(tenant_id),
                    AuditEvent.action.startswith("hold."),  # type: ignore[attr-defined]
                )
            )
        )


def test_a_manager_places_and_releases_after_confirming(db: Database) -> None:
    a = make_tenant("clinic-a")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    patient, case = make_case(a)
    token, _actor = signed_in(manager)

    state, _ = page(token, case)
    assert state.can_manage and state.holds == [] and not state.held

    typed = {"scope": "patient", "reason": "  Claim received  ", "ends_on": ""}
    state, result = page(token, case, ("place", (typed,)))
    assert state.held and state.notice == "Legal hold placed on every case of this patient."
    assert [h["scope"] for h in state.holds] == ["patient"]
    assert isinstance(result, list) and len(result) == 2  # the two fields are emptied
    [hold] = _holds(a)
    assert hold.patient_id == patient and hold.reason == "Claim received"

    hold_id = state.holds[0]["id"]
    # The reason is checked before anything is asked.
    state, _ = page(token, case, ("ask_release", ({"hold_id": hold_id, "reason": " "},)))
    assert state.error and state.confirm_id == ""
    # Asked, then kept: nothing changes.
    state, _ = page(
        token,
        case,
        ("ask_release", ({"hold_id": hold_id, "reason": "Claim withdrawn"},)),
        ("cancel_release", ()),
    )
    assert state.confirm_id == "" and state.held
    assert _holds(a)[0].released_at is None
    # Asked, then confirmed.
    state, _ = page(
        token,
        case,
        ("ask_release", ({"hold_id": hold_id, "reason": "Claim withdrawn"},)),
    )
    assert state.confirm_id == hold_id and state.confirm_reason == "Claim withdrawn"
    state, _ = page(
        token,
        case,
        ("ask_release", ({"hold_id": hold_id, "reason": "Claim withdrawn"},)),
        ("release", ()),
    )
    assert not state.held and state.notice == "Legal hold released." and state.confirm_id == ""
    assert [h["state_label"] for h in state.holds] == ["Released"]
    assert _holds(a)[0].release_reason == "Claim withdrawn"
    assert sorted(_actions(a)) == ["hold.place", "hold.release"]


def test_refused_input_keeps_what_was_typed_and_places_nothing(db: Database) -> None:
    a = make_tenant("clinic-a")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    _patient, case = make_case(a)
    token, _actor = signed_in(manager)
    for data, problem in (
        ({"scope": "case", "reason": "ab"}, "at least 3"),
        ({"scope": "case", "reason": "Dispute", "ends_on": "2000-01-01"}, "past"),
        ({"scope": "clinic", "reason": "Dispute"}, "Choose what to hold"),
        ("not a form", "at least 3"),
    ):
        state, result = page(token, case, ("place", (data,)))
        assert problem in state.error and result is None  # no field is emptied
    assert _holds(a) == []


def test_other_clinics_holds_and_forged_ids_change_nothing(db: Database) -> None:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    b_owner, _ = make_user("owner@b.test", role="clinic_owner", tenants=(b,))
    _patient, case = make_case(a)
    _b_patient, b_case = make_case(b)
    _b_token, b_actor = signed_in(b_owner)
    b_hold = str(place_hold(b_actor, case_id=b_case, reason="Clinic B's own hold"))
    token, _actor = signed_in(manager)

    # B's case in the address: nothing is shown, nothing can be placed on it.
    state, _ = page(token, b_case, ("place", ({"scope": "case", "reason": "Mine now"},)))
    assert state.holds == [] and state.error == "This case was not found."
    # B's hold id sent to A's case page: not one of this page's holds.
    state, _ = page(token, case, ("ask_release", ({"hold_id": b_hold, "reason": "Not yours"},)))
    assert state.confirm_id == "" and state.error
    # Even a confirmation var forged to B's hold reaches the service, which answers not found.
    state, _ = page(token, case)
    state.confirm_id, state.confirm_reason = b_hold, "Forged"
    asyncio.run(HoldsState.event_handlers["release"].fn(state))
    assert state.error == "That hold was not found."
    [kept] = _holds(b)
    assert kept.released_at is None and _holds(a) == []


def test_read_only_for_those_who_may_not_manage_holds(db: Database) -> None:
    a = make_tenant("clinic-a")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    coordinator, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    _patient, case = make_case(a)
    _token, mgr = signed_in(manager)
    place_hold(mgr, case_id=case, reason="Dispute")
    token, _actor = signed_in(coordinator)
    state, _ = page(token, case, ("place", ({"scope": "case", "reason": "Another"},)))
    assert not state.can_manage and state.held and len(state.holds) == 1
    assert len(_holds(a)) == 1
    assert declared(HoldsState, "place") == Permission.HOLDS_MANAGE
    assert declared(HoldsState, "load") == Permission.CASES_VIEW


def declared(cls: type[rx.State], name: str) -> Any:
    from mi_portal.services.permissions import declared_permission

    return declared_permission(cls.event_handlers[name].fn)
