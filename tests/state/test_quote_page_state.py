"""The patient's quote page handlers: a good link shows its version, answers are taken once,
a bad link shows nothing."""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401  (registers every state)
from mi_portal.config import reset_settings
from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, Quote, Submission
from mi_portal.services import clock, quote_pdf, quotes, ratelimit
from mi_portal.state import quote_page
from mi_portal.state.quote_page import INVALID, QuotePageState
from tests.conftest import Database
from tests.factories import owner_session, two_clinics
from tests.quote_helpers import catalog, sample_form, sent_quote, staff


def _in(days: int) -> str:
    return (clock.now().date() + timedelta(days=days)).isoformat()


def _root(token: str) -> rx.State:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"user-agent": "PhoneBrowser/1.0"},
            "ip": "198.51.100.7",
            "pathname": "/q/[token]",
            "query": {"token": token},
        }
    )
    return root


def handle(token: str, *calls: tuple[str, tuple[Any, ...]]) -> QuotePageState:
    """Run the handlers in order on one tab whose address carries ``token``."""

    async def go() -> QuotePageState:
        state = await _root(token).get_state(QuotePageState)
        assert isinstance(state, QuotePageState)
        for name, args in calls:
            await QuotePageState.event_handlers[name].fn(state, *args)
        return state

    return asyncio.run(go())


def _quote(tenant_id: uuid.UUID, quote_id: str) -> Quote:
    with tenant_session(tenant_id) as session:
        row = session.get(Quote, (tenant_id, uuid.UUID(quote_id)))
        assert row is not None
        return row


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    w = two_clinics()
    a_quote, a_token = sent_quote(staff(w.a), w.a_submission, sample_form(catalog(w.a), _in(30)))
    b_quote, b_token = sent_quote(staff(w.b), w.b_submission, sample_form(catalog(w.b), _in(30)))
    return {"w": w, "a_quote": a_quote, "a": a_token, "b_quote": b_quote, "b": b_token}


def test_a_good_link_shows_its_version_and_records_the_view(world: dict[str, Any]) -> None:
    w = world["w"]
    state = handle(world["a"], ("load", ()))
    assert state.loaded and not state.invalid and state.answerable
    assert state.clinic_name == "Clinic-A" and state.version == 1
    assert state.reference == str(w.a_submission)[-8:].upper()
    assert [line["amount"] for line in state.lines] == ["$540.00", "$120.00"]
    assert (state.subtotal, state.tax, state.total, state.deposit) == (
        "$660.00",
        "$108.00",
        "$768.00",
        "$153.60",
    )
    assert state.valid_until == _in(30) and state.terms.startswith("Deposit is refundable")
    assert state.pdf_url.startswith("/api/q/") and world["a"] not in state.pdf_url
    assert quote_pdf._open_patient_link(state.pdf_url[len("/api/q/") : -len(".pdf")]) == (
        w.a,
        uuid.UUID(world["a_quote"]),
    )
    assert state.notice == "" and state.current_link == ""
    assert "Bob" not in str(state.dict()) and "Clinic-B" not in str(state.dict())
    assert _quote(w.a, world["a_quote"]).status == "viewed"
    with owner_session() as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "quote.viewed")).all()
    assert event.ip == "198.51.100.7" and event.user_agent == "PhoneBrowser/1.0"


@pytest.mark.parametrize("bad", ["", "garbage", "x" * 3000])
def test_a_bad_link_shows_only_that_it_is_not_valid(world: dict[str, Any], bad: str) -> None:
    state = handle(bad, ("load", ()))
    assert state.invalid and state.error == INVALID
    assert state.lines == [] and state.clinic_name == "" and state.total == ""


def test_another_clinics_quote_under_a_genuine_signature_shows_nothing(
    world: dict[str, Any],
) -> None:
    forged = quotes.link_token(world["w"].a, uuid.UUID(world["b_quote"]))
    state = handle(forged, ("load", ()), ("choose", ("accept",)), ("accept", ()))
    assert state.invalid and state.lines == [] and state.clinic_name == ""
    assert _quote(world["w"].b, world["b_quote"]).status == "sent"


def test_accepting_needs_the_full_name_and_is_recorded(world: dict[str, Any]) -> None:
    w = world["w"]
    state = handle(
        world["a"],
        ("load", ()),
        ("choose", ("accept",)),
        ("update_name", ("Someone Else",)),
        ("accept", ()),
    )
    assert "full name" in state.error and state.answering == "accept"
    assert state.typed_name == "Someone Else"  # nothing typed is lost
    assert _quote(w.a, world["a_quote"]).status == "viewed"
    state = handle(
        world["a"],
        ("load", ()),
        ("choose", ("accept",)),
        ("update_name", ("Alice A",)),
        ("accept", ()),
    )
    assert state.error == "" and "acceptance" in state.done
    assert state.status == "accepted" and not state.answerable and state.answering == ""
    assert state.accepted_name == "Alice A" and state.notice == "You accepted this quote."
    quote = _quote(w.a, world["a_quote"])
    assert quote.accepted_name == "Alice A" and quote.accepted_ip == "198.51.100.7"
    assert quote.accepted_user_agent == "PhoneBrowser/1.0"
    with tenant_session(w.a) as session:
        case = session.get(Submission, (w.a, w.a_submission))
        assert case is not None and case.status == "accepted"
    # A second answer from another tab is refused with the reason.
    again = handle(world["a"], ("load", ()), ("decline", ()))
    assert "accepted" in again.error and again.status == "accepted"


def test_declining_with_a_reason(world: dict[str, Any]) -> None:
    w = world["w"]
    state = handle(
        world["a"],
        ("load", ()),
        ("choose", ("decline",)),
        ("update_reason", ("Too far to travel",)),
        ("decline", ()),
    )
    assert state.status == "declined" and "answer" in state.done and state.reason == ""
    quote = _quote(w.a, world["a_quote"])
    assert quote.status == "declined" and quote.decline_reason == "Too far to travel"


def test_choose_takes_only_known_answers_and_only_while_open(world: dict[str, Any]) -> None:
    state = handle(world["a"], ("load", ()), ("choose", ({"x": 1},)), ("choose", ("delete",)))
    assert state.answering == ""
    handle(world["a"], ("load", ()), ("decline", ()))
    closed = handle(world["a"], ("load", ()), ("choose", ("accept",)))
    assert closed.answering == "" and not closed.answerable


def test_a_superseded_link_says_so_and_points_to_the_current_version(
    world: dict[str, Any],
) -> None:
    w = world["w"]
    manager = staff(w.a)
    second = quotes.start(manager, w.a_submission)
    quotes.send(manager, second)
    state = handle(world["a"], ("load", ()), ("choose", ("accept",)), ("accept", ()))
    assert not state.answerable and state.status == "superseded"
    assert "replaced" in state.notice
    assert quotes.open_link(state.current_link.rsplit("/q/", 1)[1]) == (w.a, uuid.UUID(second))
    assert _quote(w.a, world["a_quote"]).status == "superseded"


def test_an_expired_link_says_so(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    later = clock.now() + timedelta(days=40)
    monkeypatch.setattr(clock, "_now", lambda: later)
    state = handle(world["a"], ("load", ()))
    assert not state.answerable and "expired" in state.notice and state.total == "$768.00"


def test_a_tab_forgets_the_quote_when_the_link_goes_bad(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def go() -> QuotePageState:
        state = await _root(world["a"]).get_state(QuotePageState)
        assert isinstance(state, QuotePageState)
        await QuotePageState.event_handlers["load"].fn(state)
        assert state.lines
        # The link's signature no longer verifies: the app's secret key was rotated.
        monkeypatch.setenv("MI_SECRET_KEY", "rotated-" + "k" * 40)
        reset_settings()
        state.typed_name = "Alice A"
        await QuotePageState.event_handlers["accept"].fn(state)
        return state

    before = os.environ.get("MI_SECRET_KEY")
    try:
        state = asyncio.run(go())
    finally:  # the rest of the test's teardown signs with the key it started with
        if before is None:
            monkeypatch.delenv("MI_SECRET_KEY", raising=False)
        else:
            monkeypatch.setenv("MI_SECRET_KEY", before)
        reset_settings()
    assert state.invalid and state.lines == [] and state.typed_name == "" and state.total == ""


def test_answering_is_rate_limited_per_address(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        quote_page,
        "QUOTE_ANSWER_PER_ADDRESS",
        ratelimit.Limit("quote-answer-test", 1, timedelta(minutes=10)),
    )
    first = handle(world["a"], ("load", ()), ("update_name", ("Nobody",)), ("accept", ()))
    assert "full name" in first.error
    second = handle(world["a"], ("load", ()), ("update_name", ("Alice A",)), ("accept", ()))
    assert second.error.startswith("Too many requests from this connection")
    assert _quote(world["w"].a, world["a_quote"]).status == "viewed"


def test_opening_the_page_is_rate_limited_and_then_shows_nothing(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        quote_page,
        "QUOTE_PAGE_PER_ADDRESS",
        ratelimit.Limit("quote-page-test", 1, timedelta(minutes=10)),
    )
    assert handle(world["a"], ("load", ())).total == "$768.00"
    refused = handle(world["a"], ("load", ()))
    assert refused.invalid and refused.total == "" and refused.error.startswith("Too many")
