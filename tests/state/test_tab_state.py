"""A tab's state never outlives its session, and the intake form forgets a refused patient."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import reflex as rx
from reflex.istate.data import RouterData
from reflex_base.event import Event, get_hydrate_event
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401
from mi_portal.db import platform_session
from mi_portal.models import UserSession
from mi_portal.services import auth, clock
from mi_portal.state.case import CaseState
from mi_portal.state.intake import IntakeState
from mi_portal.state.session import SessionState
from mi_portal.state.tab import SessionBoundState
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, sign_in_token

PATIENT = "Quinn Hydrate-Probe"


def _root(cookie: str, pathname: str = "/cases/[id]", query: dict[str, str] | None = None) -> Any:
    root = rx.State(_reflex_internal_init=True)
    _point(root, cookie, pathname, query or {})
    return root


def _point(root: Any, cookie: str, pathname: str, query: dict[str, str]) -> None:
    root.router = RouterData.from_router_data(
        {"headers": {"cookie": cookie}, "ip": "127.0.0.1", "pathname": pathname, "query": query}
    )


async def _open_case(root: Any, case_id: str) -> CaseState:
    case = await root.get_state(CaseState)
    session = await root.get_state(SessionState)
    await SessionState.event_handlers["refresh"].fn(session)
    await CaseState.event_handlers["load"].fn(case)
    return case


async def _hydrate(root: Any) -> None:
    # What Reflex runs before sending the full state to a (re)connecting tab.
    event = Event(name=get_hydrate_event(root) + "_and_load", payload={})
    assert await SessionBoundState().preprocess(app=None, state=root, event=event) is None


def _world() -> tuple[uuid.UUID, str, uuid.UUID]:
    a = make_tenant("clinic-a")
    _patient, case_id = make_case(a, name=PATIENT)
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    return a, str(case_id), owner


def _typed_intake(root: Any) -> IntakeState:
    state = root.substates[IntakeState.get_name()]
    state.full_name = "Someone Typing"
    return state


def _sees_patient(root: Any) -> bool:
    case = root.substates[CaseState.get_name()]
    session = root.substates[SessionState.get_name()]
    return PATIENT in str(case.case) or session.user_email != ""


def test_a_valid_session_keeps_its_state_across_a_reconnect(db: Database) -> None:
    _a, case_id, owner = _world()
    cookie = f"mi_session={sign_in_token(owner)}"

    async def scenario() -> bool:
        root = _root(cookie, query={"id": case_id})
        await _hydrate(root)  # first connect: the tab now belongs to this session
        await _open_case(root, case_id)
        await _hydrate(root)
        return _sees_patient(root)

    assert asyncio.run(scenario())


def _after_session_end(end: str) -> tuple[bool, bool, bool]:
    _a, case_id, owner = _world()
    token = sign_in_token(owner)
    cookie = f"mi_session={token}"

    async def scenario() -> tuple[bool, bool, bool]:
        root = _root(cookie, query={"id": case_id})
        await _hydrate(root)
        await _open_case(root, case_id)
        before = _sees_patient(root)
        intake_state = _typed_intake(root)
        replay_cookie = cookie
        if end == "sign_out":
            auth.sign_out(token)
        elif end == "no_cookie":
            replay_cookie = ""
        elif end == "idle":
            with platform_session() as session:
                row = session.exec(select(UserSession).where(UserSession.user_id == owner)).one()
                row.last_seen_at = clock.now() - timedelta(minutes=16)
                session.add(row)
                session.commit()
        elif end == "revoked":
            auth.sign_out_everywhere(owner, by=None)
        elif end == "other_user":
            other, _ = make_user("manager@a.test", role="clinic_manager", tenants=(_a,))
            replay_cookie = f"mi_session={sign_in_token(other)}"
        _point(root, replay_cookie, "/cases/[id]", {"id": case_id})
        await _hydrate(root)
        return before, _sees_patient(root), intake_state.full_name == "Someone Typing"

    return asyncio.run(scenario())


def test_sign_out_leaves_nothing_for_a_replayed_tab(db: Database) -> None:
    assert _after_session_end("sign_out") == (True, False, True)


def test_a_reconnect_without_the_cookie_gets_nothing(db: Database) -> None:
    assert _after_session_end("no_cookie") == (True, False, True)


def test_idle_timeout_leaves_nothing_for_a_replayed_tab(db: Database) -> None:
    assert _after_session_end("idle") == (True, False, True)


def test_revocation_leaves_nothing_for_a_replayed_tab(db: Database) -> None:
    assert _after_session_end("revoked") == (True, False, True)


def test_another_users_session_never_sees_the_tabs_earlier_state(db: Database) -> None:
    assert _after_session_end("other_user") == (True, False, True)


def test_a_guarded_event_without_a_session_empties_the_tab(db: Database) -> None:
    _a, case_id, owner = _world()
    token = sign_in_token(owner)

    async def scenario() -> bool:
        root = _root(f"mi_session={token}", query={"id": case_id})
        case = await _open_case(root, case_id)
        auth.sign_out(token)
        await CaseState.event_handlers["load"].fn(case)  # redirected to /signin
        return _sees_patient(root)

    assert asyncio.run(scenario()) is False


def test_a_refused_patient_leaves_nothing_in_the_form(db: Database) -> None:
    make_tenant("clinic-a")

    async def scenario() -> IntakeState:
        root = _root("", pathname="/c/[slug]/consult", query={"slug": "clinic-a"})
        state = await root.get_state(IntakeState)
        await IntakeState.event_handlers["load"].fn(state)
        for name, value in (
            ("full_name", "Young Patient"),
            ("email", "young@example.org"),
            ("phone", "+1 202 555 0199"),
            ("date_of_birth", "2012-03-04"),
            ("concern_area", "body_contour"),
            ("privacy_ack", True),
        ):
            await IntakeState.event_handlers["update_field"].fn(state, name, value)
        await IntakeState.event_handlers["update_answer"].fn(state, "goal", "a private answer")
        async for _ in IntakeState.event_handlers["submit"].fn(state, []):
            pass
        return state

    state = asyncio.run(scenario())
    assert "at least 18" in state.refused
    values = state.dict()[state.get_full_name()]
    for typed in ("Young Patient", "young@example.org", "0100 999", "2012-03-04", "private"):
        assert typed not in str(values)
    assert state.answers == {} and state.privacy_ack is False and state.errors == {}


def test_a_guarded_event_on_a_tab_filled_for_another_session_starts_empty(db: Database) -> None:
    a, case_id, owner = _world()
    other, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))

    async def scenario() -> tuple[bool, bool]:
        root = _root(f"mi_session={sign_in_token(owner)}", query={"id": case_id})
        await _hydrate(root)
        case = await _open_case(root, case_id)
        before = _sees_patient(root)
        # Someone else's valid cookie, and a non-hydrate event first: nothing of the owner's
        # tab may be sent back in the reply.
        _point(root, f"mi_session={sign_in_token(other)}", "/cases/[id]", {"id": "nope"})
        session = root.substates[SessionState.get_name()]
        await CaseState.event_handlers["load"].fn(case)  # an unknown case for this user
        return before, PATIENT in str(case.case) or session.user_email == "owner@a.test"

    assert asyncio.run(scenario()) == (True, False)


def test_automatic_link_renewal_does_not_keep_an_idle_session_alive(db: Database) -> None:
    from mi_portal.state.viewer import ViewerState

    _a, case_id, owner = _world()
    token = sign_in_token(owner)

    def last_seen() -> object:
        with platform_session() as session:
            return session.exec(select(UserSession).where(UserSession.user_id == owner)).one()

    def idle_for(minutes: int) -> None:
        with platform_session() as session:
            row = session.exec(select(UserSession).where(UserSession.user_id == owner)).one()
            row.last_seen_at = clock.now() - timedelta(minutes=minutes)
            session.add(row)
            session.commit()

    async def scenario() -> tuple[bool, bool]:
        root = _root(f"mi_session={token}", "/cases/[id]/photos", {"id": case_id})
        viewer = await root.get_state(ViewerState)
        idle_for(10)
        before = last_seen().last_seen_at  # type: ignore[attr-defined]
        await ViewerState.event_handlers["refresh_urls"].fn(viewer)  # the page's own timer
        untouched = last_seen().last_seen_at == before  # type: ignore[attr-defined]
        session_state = await root.get_state(SessionState)
        await SessionState.event_handlers["refresh"].fn(session_state)  # a person's action
        touched = last_seen().last_seen_at > before  # type: ignore[attr-defined]
        return untouched, touched

    assert asyncio.run(scenario()) == (True, True)
    idle_for(16)
    assert auth.resolve(token) is None  # and the idle timeout still ends it
