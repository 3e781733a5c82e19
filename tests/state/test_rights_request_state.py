"""The privacy-request pages' handlers: every error at once with nothing typed lost, the move to
the code page, and the code page's states."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import col, select

import mi_portal.mi_portal  # noqa: F401  (registers every state)
from mi_portal.db import platform_session
from mi_portal.models import PlatformOutboxMessage, RightsRequest
from mi_portal.state.rights_request import RightsRequestState, RightsVerifyState
from tests.clocks import Clock
from tests.conftest import Database

FILLED = {
    "kind": "deletion",
    "requester_name": "Ann Patient",
    "requester_email": "ann@example.org",
    "jurisdiction": "DE",
}
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"


def _root(pathname: str, query: dict[str, str] | None = None) -> rx.State:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"user-agent": "pytest"},
            "ip": "198.51.100.7",
            "pathname": pathname,
            "query": query or {},
        }
    )
    return root


async def _submit(
    fill: dict[str, Any], files: list[tuple[str, bytes]] | None = None
) -> tuple[RightsRequestState, str]:
    state = await _root("/privacy/request").get_state(RightsRequestState)
    for name, value in fill.items():
        await RightsRequestState.event_handlers["update_field"].fn(state, name, value)
    uploads: list[Any] = [
        rx.UploadFile(file=io.BytesIO(data), path=Path(name)) for name, data in files or []
    ]
    scripts = []
    async for update in RightsRequestState.event_handlers["submit"].fn(state, uploads):
        if update is not None:
            scripts.append(repr(update))
    return state, " ".join(scripts)


def test_every_error_is_shown_at_once_and_nothing_typed_is_lost(db: Database) -> None:
    typed = {
        "requester_name": "Ann Patient",
        "requester_email": "ann@",
        "details": "Please delete my photos.",
        "by_agent": "agent",
    }
    state, script = asyncio.run(_submit(typed))

    assert list(state.errors)[:1] == ["kind"]
    assert {"requester_email", "jurisdiction", "agent_name", "agent_email", "authorisation"} <= set(
        state.errors
    )
    assert "requester_name" not in state.errors
    assert "#kind-choices input" in script and "focus" in script
    assert (state.requester_name, state.requester_email) == ("Ann Patient", "ann@")
    assert state.details == "Please delete my photos." and state.by_agent
    with platform_session() as session:
        assert session.exec(select(RightsRequest)).all() == []


def test_a_request_goes_to_its_code_page_and_the_form_is_emptied(db: Database) -> None:
    state, script = asyncio.run(_submit(FILLED))

    assert state.errors == {}
    with platform_session() as session:
        (request,) = session.exec(select(RightsRequest)).all()
    assert f"/privacy/request/verify/{request.reference}" in script
    assert request.status == "unverified" and request.kind == "deletion"
    assert state.requester_name == "" and state.kind == ""


def test_an_agents_file_is_checked_by_content(db: Database) -> None:
    agent = {
        **FILLED,
        "by_agent": "agent",
        "agent_name": "Al Agent",
        "agent_email": "al@example.org",
    }
    state, script = asyncio.run(_submit(agent, [("authorisation.pdf", b"just some text")]))
    assert "PDF, JPEG or PNG" in state.errors["authorisation"] and "#authorisation" in script
    assert state.agent_name == "Al Agent"  # kept for the next try

    state, script = asyncio.run(_submit(agent, [("scan.bin", PDF)]))
    assert state.errors == {} and "/privacy/request/verify/RR-" in script


def test_unknown_kinds_and_fields_are_ignored(db: Database) -> None:
    async def run() -> RightsRequestState:
        state = await _root("/privacy/request").get_state(RightsRequestState)
        update = RightsRequestState.event_handlers["update_field"].fn
        await update(state, "kind", "everything")
        await update(state, "errors", {"x": "y"})
        await update(state, "requester_name", {"not": "text"})
        await update(state, "requester_name", "x" * 5000)
        return state

    state = asyncio.run(run())
    assert state.kind == "" and state.errors == {}
    assert len(state.requester_name) == 200


def _code() -> str:
    with platform_session() as session:
        body = session.exec(
            select(PlatformOutboxMessage.body).order_by(col(PlatformOutboxMessage.created_at))
        ).all()[-1]
    match = re.search(r"\b(\d{6})\b", body)
    assert match is not None
    return match.group(1)


def _verify_calls(reference: str, *calls: tuple[str, tuple[Any, ...]]) -> RightsVerifyState:
    async def run() -> RightsVerifyState:
        root = _root("/privacy/request/verify/[reference]", {"reference": reference})
        state = await root.get_state(RightsVerifyState)
        await RightsVerifyState.event_handlers["load"].fn(state)
        for name, args in calls:
            await RightsVerifyState.event_handlers[name].fn(state, *args)
        return state

    return asyncio.run(run())


def test_the_code_page_shows_each_state(db: Database, fake_clock: Clock) -> None:
    _state, script = asyncio.run(_submit(FILLED))
    match = re.search(r"RR-[A-Z0-9]{4}-[A-Z0-9]{4}", script)
    assert match is not None
    reference = match.group(0)

    state = _verify_calls(reference)
    assert (state.view, state.shown_reference) == ("waiting", reference)

    state = _verify_calls(reference, ("check_code", ({"code": ""},)))
    assert state.code_error.startswith("Enter the 6-digit code")
    wrong = "000000" if _code() != "000000" else "111111"
    state = _verify_calls(reference, ("check_code", ({"code": wrong},)))
    assert state.view == "waiting" and "4 tries left" in state.code_error

    fake_clock.advance(minutes=11)
    state = _verify_calls(reference, ("check_code", ({"code": _code()},)))
    assert state.view == "expired" and "new code" in state.message

    state = _verify_calls(reference, ("resend", ()))
    assert state.view == "sent"
    state = _verify_calls(reference, ("check_code", ({"code": _code()},)))
    assert (
        state.view == "verified"
        and reference in state.message
        and "hear from us by" in state.message
    )

    assert _verify_calls(reference).view == "verified"  # a reload shows the same
    assert _verify_calls("RR-2345-6789").view == "closed"
    assert _verify_calls("<script>").view == "closed"
