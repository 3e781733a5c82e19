"""The conversation panel, /messages and /settings/templates through their real handlers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData
from sqlmodel import select

import mi_portal.mi_portal  # noqa: F401  (registers every page and state)
from mi_portal.db import tenant_session
from mi_portal.models import Message, MessageTemplate, OutboxMessage, Role, Submission
from mi_portal.services import message_templates, messaging
from mi_portal.services.actor import Actor
from mi_portal.state.conversation import ConversationState
from mi_portal.state.messages import MessagesState
from mi_portal.state.templates import TemplatesState
from tests.conftest import Database
from tests.factories import make_case, make_tenant, make_user, sign_in_token


class Tab:
    """One browser tab: a state tree whose router carries the session cookie and the URL."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.root = rx.State(_reflex_internal_init=True)

    def at(self, path: str, route: str, query: str = "", **params: str) -> Tab:
        self.root.router = RouterData.from_router_data(
            {
                "headers": {"cookie": f"mi_session={self.token}", "user-agent": "pytest"},
                "ip": "127.0.0.1",
                "pathname": route,
                "asPath": path + query,
                "query": params,
            }
        )
        return self

    def run(self, cls: type[rx.State], name: str, *args: Any) -> tuple[Any, Any]:
        async def go() -> tuple[Any, Any]:
            state = await self.root.get_state(cls)
            return state, await cls.event_handlers[name].fn(state, *args)

        return asyncio.run(go())


@pytest.fixture
def clinic(db: Database):  # type: ignore[no-untyped-def]
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    coordinator, _ = make_user("coord@a.test", role="coordinator", tenants=(a,))
    owner_b, _ = make_user("owner@b.test", role="clinic_owner", tenants=(b,))
    case = make_case(a, name="Ava Stone")[1]
    b_case = make_case(b, name="Bo Stone")[1]
    manager_actor = Actor(user_id=manager, role=Role.CLINIC_MANAGER, tenant_id=a)
    template = message_templates.save_template(
        manager_actor,
        None,
        name="Welcome",
        channel="email",
        subject="About case {{ case.reference }}",
        body="Hello {{ patient.first_name }}, thanks for writing to {{ clinic.name }}.",
    )
    return {
        "a": a, "b": b, "case": case, "b_case": b_case, "template": template,
        "manager": sign_in_token(manager), "coordinator": sign_in_token(coordinator),
        "owner_b": sign_in_token(owner_b), "manager_actor": manager_actor,
    }  # fmt: skip


def _case_tab(token: str, case: uuid.UUID) -> Tab:
    return Tab(token).at(f"/cases/{case}", "/cases/[id]", id=str(case))


def _messages(tenant: uuid.UUID) -> list[Message]:
    with tenant_session(tenant) as session:
        return list(session.exec(select(Message)).all())


def test_template_preview_and_send(clinic) -> None:  # type: ignore[no-untyped-def]
    tab = _case_tab(clinic["coordinator"], clinic["case"])
    state, _ = tab.run(ConversationState, "load")
    assert state.loaded and state.can_send and state.messages == []
    assert [t["name"] for t in state.templates] == ["Welcome"]
    tab.run(ConversationState, "choose_template", clinic["template"])
    assert state.subject == "About case {{ case.reference }}"
    assert state.body.startswith("Hello {{ patient.first_name }}")
    tab.run(ConversationState, "show_preview")
    reference = str(clinic["case"])[-8:].upper()
    assert state.compose_error == ""
    assert state.preview["subject"] == f"About case {reference}"
    assert state.preview["body"].startswith("Hello Ava,")
    assert state.preview["to"].endswith("@example.org") and "•" in state.preview["to"]  # masked
    assert _messages(clinic["a"]) == []  # a preview stores nothing
    tab.run(ConversationState, "send")
    assert state.compose_error == "" and state.body == "" and state.notice
    sent = _messages(clinic["a"])
    assert len(sent) == 1 and sent[0].template_id == uuid.UUID(clinic["template"])
    with tenant_session(clinic["a"]) as session:
        assert session.exec(select(OutboxMessage.status)).all() == ["pending"]
    assert [m["delivery"] for m in state.messages] == ["Queued"]


def test_a_refused_send_keeps_what_was_typed(clinic) -> None:  # type: ignore[no-untyped-def]
    tab = _case_tab(clinic["coordinator"], clinic["case"])
    state, _ = tab.run(ConversationState, "load")
    tab.run(ConversationState, "set_subject", "Follow-up")
    tab.run(ConversationState, "set_body", "Dear {{ patient.surname }}, a long careful answer.")
    tab.run(ConversationState, "show_preview")
    assert "Unknown variable" in state.compose_error and state.preview == {}
    tab.run(ConversationState, "send")
    assert "Unknown variable" in state.compose_error
    assert state.subject == "Follow-up" and "long careful answer" in state.body
    assert _messages(clinic["a"]) == []
    # No SMS consent: the channel cannot be chosen, and says why.
    tab.run(ConversationState, "set_channel", "sms")
    assert state.channel == "email" and "Text messages are off" in state.compose_error


def test_another_clinics_case_shows_and_takes_nothing(clinic) -> None:  # type: ignore[no-untyped-def]
    tab = _case_tab(clinic["owner_b"], clinic["case"])
    state, _ = tab.run(ConversationState, "load")
    assert not state.loaded and state.messages == []
    tab.run(ConversationState, "set_subject", "Hi")
    tab.run(ConversationState, "set_body", "Hello")
    tab.run(ConversationState, "send")
    assert state.compose_error == "That case, template or file was not found."
    tab.run(ConversationState, "choose_template", clinic["template"])  # clinic A's template
    assert state.compose_error == "That template was not found." and state.body == "Hello"
    assert _messages(clinic["a"]) == [] and _messages(clinic["b"]) == []


def test_viewers_cannot_send(clinic, db: Database) -> None:  # type: ignore[no-untyped-def]
    viewer, _ = make_user("viewer@a.test", role="viewer", tenants=(clinic["a"],))
    tab = _case_tab(sign_in_token(viewer), clinic["case"])
    state, _ = tab.run(ConversationState, "load")
    assert state.loaded and not state.can_send and state.templates == []
    tab.run(ConversationState, "set_body", "Hello")
    tab.run(ConversationState, "send")
    assert state.body == "" and _messages(clinic["a"]) == []


def _inbound(tenant: uuid.UUID, case: uuid.UUID) -> None:
    with tenant_session(tenant) as session:
        row = session.get(Submission, (tenant, case))
        assert row is not None
        thread = messaging.thread_for_case(session, row)
        messaging.append_inbound(session, thread, channel="email", body="Any news?")
        session.commit()


def test_messages_page_url_filters_and_reading(clinic) -> None:  # type: ignore[no-untyped-def]
    _inbound(clinic["a"], clinic["case"])
    tab = Tab(clinic["manager"]).at("/messages", "/messages", "?unread=1")
    state, result = tab.run(MessagesState, "load")
    assert result is None and [r["unread"] for r in state.rows] == [1]
    assert state.view == {"unread": "1"}
    # A name typed into the search never reaches the address: an opaque handle does.
    _, result = tab.run(MessagesState, "apply_search", {"search": "Ava Stone"})
    assert "Ava" not in repr(result) and "q=" in repr(result)
    # Reading the case empties the unread view for this user only.
    _case_tab(clinic["manager"], clinic["case"]).run(ConversationState, "load")
    state, _ = (
        Tab(clinic["manager"]).at("/messages", "/messages", "?unread=1").run(MessagesState, "load")
    )
    assert state.rows == [] and state.total == 0
    state, _ = (
        Tab(clinic["coordinator"])
        .at("/messages", "/messages", "?unread=1")
        .run(MessagesState, "load")
    )
    assert len(state.rows) == 1 and state.rows[0]["patient"] == "A. S."


def test_templates_page(clinic) -> None:  # type: ignore[no-untyped-def]
    tab = Tab(clinic["manager"]).at("/settings/templates", "/settings/templates")
    state, _ = tab.run(TemplatesState, "load")
    assert [t["name"] for t in state.templates] == ["Welcome"]
    tab.run(TemplatesState, "set_field", "name", "Reminder")
    tab.run(TemplatesState, "set_field", "subject", "Reminder")
    tab.run(TemplatesState, "set_field", "body", "Hi {{ patient.nickname }}")
    tab.run(TemplatesState, "save")
    assert list(state.errors) == ["body"] and "Unknown variable" in state.errors["body"]
    assert state.form["name"] == "Reminder"  # nothing typed is lost
    tab.run(TemplatesState, "set_field", "subject", "Hi {{ oops }}")
    tab.run(TemplatesState, "set_field", "body", "Hi {{ patient.first_name }}")
    tab.run(TemplatesState, "save")
    assert list(state.errors) == ["subject"]
    tab.run(TemplatesState, "set_field", "subject", "Reminder")
    tab.run(TemplatesState, "save")
    assert state.errors == {} and [t["name"] for t in state.templates] == ["Reminder", "Welcome"]
    tab.run(TemplatesState, "ask_retire", clinic["template"])
    assert state.confirm_name == "Welcome"
    tab.run(TemplatesState, "retire")
    with tenant_session(clinic["a"]) as session:
        row = session.get(MessageTemplate, (clinic["a"], uuid.UUID(clinic["template"])))
        assert row is not None and not row.active
    tab.run(TemplatesState, "reactivate", clinic["template"])
    assert all(t["active"] for t in state.templates)
    # A coordinator is told the page is not theirs.
    state, _ = (
        Tab(clinic["coordinator"])
        .at("/settings/templates", "/settings/templates")
        .run(TemplatesState, "load")
    )
    assert state.blocked == "denied" and state.templates == []


def test_a_pdf_uploaded_on_the_page_goes_with_the_message(clinic) -> None:  # type: ignore[no-untyped-def]
    import io
    from pathlib import Path

    from mi_portal.models import MessageAttachment

    tab = _case_tab(clinic["coordinator"], clinic["case"])
    state, _ = tab.run(ConversationState, "load")
    fake = rx.UploadFile(file=io.BytesIO(b"<html>not a pdf"), path=Path("notes.pdf"))
    tab.run(ConversationState, "upload_attachment", [fake])
    assert state.compose_error == "notes.pdf: This file is not a PDF."
    assert state.attachments == []
    pdf = rx.UploadFile(file=io.BytesIO(b"%PDF-1.4\n%%EOF"), path=Path("Care plan.pdf"))
    tab.run(ConversationState, "upload_attachment", [pdf])
    assert state.compose_error == ""
    assert [a["name"] for a in state.attachments] == ["Care plan.pdf"]
    tab.run(ConversationState, "set_subject", "Your plan")
    tab.run(ConversationState, "set_body", "Attached.")
    tab.run(ConversationState, "send")
    assert state.compose_error == "" and state.attachments == []
    with tenant_session(clinic["a"]) as session:
        rows = session.exec(select(MessageAttachment)).all()
        assert [(r.kind, r.display_name) for r in rows] == [("pdf", "Care plan.pdf")]
    assert state.messages[-1]["attachments"][0]["name"] == "Care plan.pdf"


def test_retry_of_a_failed_delivery_and_foreign_ids_answer_alike(clinic) -> None:  # type: ignore[no-untyped-def]
    messaging.send_message(
        clinic["manager_actor"], clinic["case"], channel="email", subject="Hi", body="Hello"
    )
    with tenant_session(clinic["a"]) as session:
        row = session.exec(select(OutboxMessage)).one()
        row.status, row.last_error = "failed", "mailbox full"
        session.add(row)
        session.commit()
        failed = str(row.id)
    tab = _case_tab(clinic["coordinator"], clinic["case"])
    state, _ = tab.run(ConversationState, "load")
    assert state.messages[0]["delivery"] == "Failed"
    assert state.messages[0]["failure"] == "mailbox full"
    # Another clinic's staff: the real id answers exactly like a made-up one.
    other = Tab(clinic["owner_b"]).at(f"/cases/{clinic['b_case']}", "/cases/[id]",
                                     id=str(clinic["b_case"]))  # fmt: skip
    answers = []
    for target in (failed, str(uuid.uuid4())):
        theirs, _ = other.run(ConversationState, "retry", target)
        answers.append(theirs.error)
    assert answers[0] == answers[1] != ""
    with tenant_session(clinic["a"]) as session:
        assert session.exec(select(OutboxMessage.status)).all() == ["failed"]
    tab.run(ConversationState, "retry", failed)
    assert state.error == "" and state.messages[0]["delivery"] == "Queued"


def test_a_send_is_one_trip_through_one_session(  # type: ignore[no-untyped-def]
    clinic, monkeypatch: pytest.MonkeyPatch, thread_trips: list[str]
) -> None:
    """Checking the attachments, storing the message and reading the thread again share one
    session and one trip to a worker thread (under load each trip waits its turn); the
    message is committed before the read, and the read marker the read moves is committed
    too, so the patient's reply that arrived meanwhile no longer counts as unread."""
    from mi_portal.services import message_attachments

    tab = _case_tab(clinic["coordinator"], clinic["case"])
    state, _ = tab.run(ConversationState, "load")
    _inbound(clinic["a"], clinic["case"])  # arrives while the panel is open
    lent: dict[str, Any] = {}

    def lending(module: Any, name: str) -> None:
        real = getattr(module, name)

        def spy(*args: Any, **kwargs: Any) -> Any:
            lent[name] = kwargs.get("lent")
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)

    lending(message_attachments, "attachment_rows")
    lending(messaging, "send_message")
    lending(messaging, "conversation")
    thread_trips.clear()  # the panel's load is not the send
    tab.run(ConversationState, "set_subject", "Your photos")
    tab.run(ConversationState, "set_body", "We looked at them today.")
    tab.run(ConversationState, "send")
    # (The guard's own session lookup is a trip only when this worker keeps no sessions.)
    assert [t for t in thread_trips if t != "resolve"] == ["_send_and_read"]
    assert sorted(lent) == ["attachment_rows", "conversation", "send_message"]
    assert len({id(s) for s in lent.values()}) == 1 and None not in lent.values()
    assert state.compose_error == "" and state.notice and state.body == ""
    assert [m["body"] for m in state.messages] == ["Any news?", "We looked at them today."]
    assert [m.body for m in _messages(clinic["a"]) if m.direction == "outbound"] == [
        "We looked at them today."
    ]
    monkeypatch.undo()
    unread, _ = (
        Tab(clinic["coordinator"])
        .at("/messages", "/messages", "?unread=1")
        .run(MessagesState, "load")
    )
    assert unread.rows == []  # the marker moved by the read after the send was committed
    # A refused send stores nothing and leaves the draft as typed (one trip, rolled back).
    tab.run(ConversationState, "set_subject", "Again")
    tab.run(ConversationState, "set_body", "Dear {{ patient.surname }}")
    tab.run(ConversationState, "send")
    assert "Unknown variable" in state.compose_error and state.body == "Dear {{ patient.surname }}"
    assert len(_messages(clinic["a"])) == 2
