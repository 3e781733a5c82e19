"""The quote builder's handlers: drafts kept as typed, sending by role, versions by URL, isolation."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401
from mi_portal.db import tenant_session
from mi_portal.models import Quote, Role, Submission
from mi_portal.services import cases, clock
from mi_portal.state.quote_builder import QuoteBuilderState
from tests.conftest import Database
from tests.factories import sign_in_token, two_clinics
from tests.quote_helpers import catalog, opt_in_sms, sample_form, sent_quote, staff

Step = tuple[str, tuple[Any, ...]]


async def _page(token: str, case_id: object, query: str, steps: tuple[Step, ...]) -> Seen:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"cookie": f"mi_session={token}"},
            "ip": "127.0.0.1",
            "pathname": "/cases/[id]/quote",
            "query": {"id": str(case_id)},
            "asPath": f"/cases/{case_id}/quote{query}",
        }
    )
    state = await root.get_state(QuoteBuilderState)
    handlers = QuoteBuilderState.event_handlers
    await handlers["load"].fn(state)
    results = []
    for name, args in steps:
        result = await handlers[name].fn(state, *args)
        if isinstance(result, rx.event.EventHandler) and result.fn.__name__ == "save":
            # The browser sends the follow-up save the edit asked for.
            result = await handlers["save"].fn(state)
        results.append(result)
    return Seen(state, results)


class Seen:
    """The page's state after the steps, and what each step returned."""

    def __init__(self, state: QuoteBuilderState, results: list[Any]) -> None:
        self.state, self.results = state, results

    def __getattr__(self, name: str) -> Any:
        return getattr(self.state, name)


def page(token: str, case_id: object, *steps: Step, query: str = "") -> Seen:
    return asyncio.run(_page(token, case_id, query, steps))


def _in(days: int) -> str:
    return (clock.now().date() + timedelta(days=days)).isoformat()


def _token(tenant_id: uuid.UUID, role: Role) -> str:
    actor = staff(tenant_id, role)
    assert actor.user_id is not None
    return sign_in_token(actor.user_id)


def _case_status(tenant_id: uuid.UUID, case_id: uuid.UUID) -> str:
    with tenant_session(tenant_id) as session:
        case = session.get(Submission, (tenant_id, case_id))
        assert case is not None
        return case.status


def _quotes(tenant_id: uuid.UUID) -> list[tuple[int, str]]:
    with tenant_session(tenant_id) as session:
        rows = session.exec(select(Quote).order_by(Quote.version)).all()  # type: ignore[arg-type]
        return [(q.version, q.status) for q in rows]


def _denied(state: Seen) -> bool:
    return any("access-denied" in repr(r) for r in state.results)


def test_a_manager_builds_a_quote_that_survives_reload_sends_and_revises(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    catalog(w.b)  # another clinic's catalog is never offered
    token = _token(w.a, Role.CLINIC_MANAGER)

    state = page(token, w.a_submission)
    assert state.mode == "empty" and state.may_edit and state.may_send and not state.not_found

    state = page(token, w.a_submission, ("start", ()), ("add_line", (f"item:{c.filler}",)))
    assert state.mode == "draft" and state.draft_version == 1
    assert {row["key"] for row in state.catalog} == {f"item:{c.filler}", f"item:{c.peel}"}
    line = state.lines_view[0]
    assert (line["description"], line["unit_price"], line["tax_class"]) == (
        "Dermal filler",
        "300.00",
        c.vat,
    )
    assert state.amounts["total"] == "$360.00" and state.line_amounts == ["$300.00"]
    assert state.saved_at and not state.saving

    # A bad price: the error beside the field, no totals, and the typing kept on reload.
    state = page(token, w.a_submission, ("set_line", (0, "unit_price", "3oo")))
    assert state.lines_view[0]["err_unit_price"] == "Enter an amount like 120.00."
    assert state.amounts == {}
    state = page(token, w.a_submission)
    assert state.lines_view[0]["unit_price"] == "3oo"
    assert state.errors == {"lines.0.unit_price": "Enter an amount like 120.00."}

    # Sending is refused while a field is wrong.
    state = page(token, w.a_submission, ("ask_send", ()))
    assert not state.send_open and state.error

    state = page(
        token,
        w.a_submission,
        ("set_line", (0, "unit_price", "300")),
        ("set_line", (0, "quantity", "2")),
        ("set_line", (0, "discount_kind", "percent")),
        ("set_line", (0, "discount_value", "10")),
        ("add_line", (f"item:{c.peel}",)),
        ("set_line", (1, "tax_class", c.exempt)),
        ("add_line", ("free",)),
        ("set_line", (2, "description", "Aftercare cream")),
        ("set_line", (2, "unit_price", "15")),
        ("move_line", (2, -1)),
        ("remove_line", (1,)),
        ("set_field", ("deposit_kind", "percent")),
        ("set_field", ("deposit_value", "20")),
        ("set_field", ("message", "See you soon.")),
    )
    assert state.errors == {}
    assert [row["description"] for row in state.lines_view] == ["Dermal filler", "Chemical peel"]
    # 2 × 300 − 10 % = 540 + 20 % tax; 120 exempt: total 768, deposit 153.60.
    assert state.line_amounts == ["$540.00", "$120.00"]
    assert state.amounts == {
        "subtotal": "$660.00",
        "discount": "",
        "tax": "$108.00",
        "total": "$768.00",
        "deposit": "$153.60",
    }

    state = page(token, w.a_submission, ("ask_send", ()))
    assert state.send_open and not state.sms_possible and not state.send_sms
    state = page(token, w.a_submission, ("ask_send", ()), ("send", ()))
    assert state.error == "" and state.notice == "Version 1 was sent to the patient."
    assert state.mode == "document" and state.shown["status"] == "sent"
    assert state.shown["total"] == "$768.00" and state.may_revise and state.may_withdraw
    assert _case_status(w.a, w.a_submission) == "quoted"

    # Revise: version 2 copies the form; version 1 stays readable through ?v=1.
    state = page(token, w.a_submission, ("start", ()))
    assert state.mode == "draft" and state.draft_version == 2
    assert [row["description"] for row in state.lines_view] == ["Dermal filler", "Chemical peel"]
    assert [v["version"] for v in state.versions] == [2, 1]
    state = page(token, w.a_submission, query="?v=1")
    assert state.mode == "document" and state.shown["version"] == 1
    assert [line["amount"] for line in state.shown["lines"]] == ["$540.00", "$120.00"]
    state = page(token, w.a_submission, query="?v=2")
    assert state.mode == "draft"
    state = page(token, w.a_submission, query="?v=9")
    assert state.version_missing and state.mode == "draft"
    # Starting again from ?v=1 keeps the one draft and drops ?v from the address.
    state = page(token, w.a_submission, ("start", ()), query="?v=1")
    assert "_redirect" in repr(state.results[0]) and _quotes(w.a) == [(1, "sent"), (2, "draft")]

    # Sending version 2 supersedes version 1.
    page(token, w.a_submission, ("ask_send", ()), ("send", ()))
    assert _quotes(w.a) == [(1, "superseded"), (2, "sent")]


def test_a_coordinator_drafts_but_cannot_send(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    token = _token(w.a, Role.COORDINATOR)
    state = page(token, w.a_submission, ("start", ()), ("add_line", (f"item:{c.peel}",)))
    assert state.may_edit and not state.may_send and state.amounts["total"] == "$120.00"
    state = page(token, w.a_submission, ("ask_send", ()), ("send", ()))
    assert _denied(state) and not state.send_open
    assert _quotes(w.a) == [(1, "draft")] and _case_status(w.a, w.a_submission) == "new"


def test_a_viewer_reads_and_changes_nothing(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    token = _token(w.a, Role.VIEWER)
    state = page(token, w.a_submission)
    assert state.mode == "document" and state.shown["total"] == "$768.00"
    assert not state.may_edit and not state.may_send and not state.may_revise
    assert state.catalog == []
    state = page(token, w.a_submission, ("start", ()), ("ask_withdraw", ()), ("withdraw", ()))
    assert _denied(state) and _quotes(w.a) == [(1, "sent")]


def test_withdraw_and_discard_after_confirming(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a, Role.PROVIDER)
    opt_in_sms(w.a, w.a_patient)
    sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    assert manager.user_id is not None
    token = sign_in_token(manager.user_id)
    state = page(token, w.a_submission, ("ask_withdraw", ()))
    assert state.withdraw_open and _quotes(w.a) == [(1, "sent")]
    state = page(token, w.a_submission, ("ask_withdraw", ()), ("withdraw", ()))
    assert state.shown["status"] == "withdrawn" and state.notice == "Version 1 was withdrawn."
    assert not state.may_withdraw and _case_status(w.a, w.a_submission) == "in_review"

    state = page(token, w.a_submission, ("start", ()), ("ask_send", ()))
    assert state.sms_possible and state.send_sms  # the patient agreed to texts
    state = page(token, w.a_submission, ("ask_discard", ()), ("discard", ()))
    assert state.mode == "document" and state.notice == "The draft was discarded."
    assert _quotes(w.a) == [(1, "withdrawn")]


def test_another_clinics_case_shows_nothing(db: Database) -> None:
    w = two_clinics()
    cb = catalog(w.b)
    sent_quote(staff(w.b), w.b_submission, sample_form(cb, _in(30)))
    token = _token(w.a, Role.CLINIC_OWNER)
    for case_id in (w.b_submission, uuid.uuid4(), "not-a-case"):
        state = page(
            token,
            case_id,
            ("start", ()),
            ("add_line", ("free",)),
            ("ask_send", ()),
            ("send", ()),
            ("ask_withdraw", ()),
            ("withdraw", ()),
        )
        assert state.not_found and state.mode == "empty"
        assert state.versions == [] and state.shown == {} and state.reference == ""
        payload = json.dumps({k: getattr(state.state, k) for k in QuoteBuilderState.base_vars})
        assert "768" not in payload and str(w.b_submission)[:8] not in payload.lower()
    assert _quotes(w.b) == [(1, "sent")] and _quotes(w.a) == []


def test_the_case_page_shows_the_latest_quote(db: Database) -> None:
    w = two_clinics()
    c = catalog(w.a)
    manager = staff(w.a)
    assert cases.case_detail(manager, w.a_submission).quote_status == ""
    sent_quote(manager, w.a_submission, sample_form(c, _in(30)))
    detail = cases.case_detail(manager, w.a_submission)
    assert (detail.quote_status, detail.quote_status_label, detail.quote_total) == (
        "sent",
        "Sent",
        "$768.00",
    )
    assert any(
        t.what == "Sent a quote" and t.detail == "version 1, total 768.00 USD"
        for t in detail.timeline
    )
