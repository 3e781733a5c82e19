"""The questions page's handlers (the address names the area; errors keep what was typed; a
manager reads only) and the clinic form's question loader (the chosen area's questions,
rate-limited, enforced on send)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
import reflex as rx
from reflex.istate.data import RouterData

import mi_portal.mi_portal  # noqa: F401  (registers every state)
from mi_portal.models import Role
from mi_portal.services import intake_questions as iq
from mi_portal.services import ratelimit
from mi_portal.services.actor import Actor
from mi_portal.state.clinic_questions import ClinicQuestionsState
from mi_portal.state.intake import IntakeState
from tests.conftest import Database
from tests.factories import make_tenant, make_user, sign_in_token
from tests.intake_helpers import form, jpeg_bytes


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    owner, _ = make_user("owner@a.test", role="clinic_owner", tenants=(a,))
    manager, _ = make_user("manager@a.test", role="clinic_manager", tenants=(a,))
    return {
        "a": a,
        "b": b,
        "owner": sign_in_token(owner),
        "manager": sign_in_token(manager),
        "actor": Actor(user_id=owner, role=Role.CLINIC_OWNER, tenant_id=a),
        "b_actor": Actor(user_id=None, role=Role.CLINIC_OWNER, tenant_id=b),
    }


class Tab:
    """One browser tab of the settings page at an address."""

    def __init__(self, token: str, query: str = "") -> None:
        self.root = rx.State(_reflex_internal_init=True)
        self.root.router = RouterData.from_router_data(
            {
                "headers": {"cookie": f"mi_session={token}", "user-agent": "pytest"},
                "ip": "127.0.0.1",
                "pathname": "/settings/clinic/questions",
                "asPath": "/settings/clinic/questions" + query,
            }
        )

    def run(self, name: str, *args: Any) -> tuple[ClinicQuestionsState, Any]:
        async def go() -> tuple[ClinicQuestionsState, Any]:
            state = await self.root.get_state(ClinicQuestionsState)
            handler = ClinicQuestionsState.event_handlers[name]
            return state, await handler.fn(state, *args)

        return asyncio.run(go())


def _texts(state: ClinicQuestionsState) -> list[str]:
    return [q["text"] for q in state.active]


def test_the_address_names_the_area_and_the_owner_adds_moves_retires_restores(
    world: dict[str, Any],
) -> None:
    tab = Tab(world["owner"], "?area=acne")
    state, _ = tab.run("load")
    assert (state.area, state.area_label, state.can_manage) == ("acne", "Acne", True)
    assert state.active == [] and "standard questions" in state.empty_text
    assert iq.QUESTIONS["goal"] in state.empty_text
    # An error keeps what was typed, under its field.
    tab.run("set_field", "text", "Hi")
    tab.run("set_field", "required", True)
    state, _ = tab.run("add")
    assert "at least 3" in state.errors["text"] and state.form["text"] == "Hi"
    assert state.form["required"] is True
    tab.run("set_field", "text", "Which products do you use?")
    state, _ = tab.run("add")
    assert state.errors == {} and state.notice == "Question added."
    assert state.form == {"text": "", "help_text": "", "required": False}
    tab.run("set_field", "text", "Any allergies?")
    state, _ = tab.run("add")
    assert _texts(state) == ["Which products do you use?", "Any allergies?"]
    assert state.active[0]["required"] and state.active[0]["first"] and state.active[1]["last"]
    state, _ = tab.run("move", state.active[1]["id"], -1)
    assert _texts(state) == ["Any allergies?", "Which products do you use?"]
    # Retiring needs the confirmation step: a bare "retire" does nothing.
    state, _ = tab.run("retire")
    assert len(state.active) == 2
    state, _ = tab.run("ask_retire", state.active[0]["id"])
    assert state.confirm_text == "Any allergies?"
    state, _ = tab.run("retire")
    assert _texts(state) == ["Which products do you use?"] and state.confirm_id == ""
    assert [q["text"] for q in state.retired] == ["Any allergies?"]
    state, _ = tab.run("restore", state.retired[0]["id"])
    assert _texts(state) == ["Which products do you use?", "Any allergies?"]
    assert state.retired == []
    # Another area is another address; an unknown one goes to "every area".
    _, spec = tab.run("choose_area", "teeth")
    assert "/settings/clinic/questions?area=teeth" in repr(spec)
    state, spec = Tab(world["owner"], "?area=elbows").run("load")
    assert "/settings/clinic/questions?area=all" in repr(spec)
    state, _ = Tab(world["owner"], "?area=teeth").run("load")
    assert state.area == "teeth" and state.active == []


def test_every_area_questions_change_the_empty_state_of_an_area(world: dict[str, Any]) -> None:
    iq.add_question(world["actor"], area="", text="How did you hear of us?")
    state, _ = Tab(world["owner"], "?area=all").run("load")
    assert state.area == "all" and _texts(state) == ["How did you hear of us?"]
    state, _ = Tab(world["owner"], "?area=rosacea").run("load")
    assert state.empty_text.endswith("your questions for every area.")


def test_a_manager_reads_and_is_refused_every_change(world: dict[str, Any]) -> None:
    iq.add_question(world["actor"], area="acne", text="Which products do you use?")
    iq.add_question(world["b_actor"], area="acne", text="Clinic B's question")
    tab = Tab(world["manager"], "?area=acne")
    state, _ = tab.run("load")
    assert state.can_manage is False and _texts(state) == ["Which products do you use?"]
    question = state.active[0]["id"]
    tab.run("set_field", "text", "Manager's question")
    for name, args in (("add", ()), ("ask_retire", (question,)), ("move", (question, 1))):
        _, result = tab.run(name, *args)
        assert "access-denied" in repr(result)
    state, _ = Tab(world["owner"], "?area=acne").run("load")
    assert _texts(state) == ["Which products do you use?"]


async def _consult(slug: str, ip: str = "198.51.100.7") -> IntakeState:
    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData.from_router_data(
        {
            "headers": {"user-agent": "pytest"},
            "ip": ip,
            "pathname": "/c/[slug]/consult",
            "asPath": f"/c/{slug}/consult",
            "query": {"slug": slug},
        }
    )
    state = await root.get_state(IntakeState)
    await IntakeState.event_handlers["load"].fn(state)
    return state


def test_the_clinic_form_loads_the_chosen_areas_questions_and_enforces_required_ones(
    world: dict[str, Any],
) -> None:
    required = iq.add_question(
        world["actor"], area="acne", text="Which products?", help_text="Brands", required=True
    )
    iq.add_question(world["b_actor"], area="acne", text="Clinic B's question")

    async def go() -> tuple[IntakeState, str]:
        state = await _consult("clinic-a")
        assert [q["key"] for q in state.questions] == list(iq.QUESTIONS)  # no area yet
        await IntakeState.event_handlers["update_field"].fn(state, "concern_area", "acne")
        assert state.questions == [
            {"key": required, "text": "Which products?", "help": "Brands", "required": True}
        ]
        # Answers are kept only for questions the form asks.
        await IntakeState.event_handlers["update_answer"].fn(state, "how_long", "months")
        assert state.answers == {}
        filled = form()
        for name in ("full_name", "email", "date_of_birth"):
            setattr(state, name, getattr(filled, name))
        state.privacy_ack = True
        upload: Any = rx.UploadFile(file=io.BytesIO(jpeg_bytes(1)), path=Path("a.jpg"))
        scripts = []
        async for update in IntakeState.event_handlers["submit"].fn(state, [upload]):
            scripts.append(repr(update))
        return state, " ".join(scripts)

    state, script = asyncio.run(go())
    assert state.errors == {f"answer-{required}": "Answer this question."}
    assert f"#answer-{required}" in script and state.receipts == []


def test_the_directory_form_asks_the_standard_questions(world: dict[str, Any]) -> None:
    iq.add_question(world["actor"], area="acne", text="Which products?", required=True)
    state = asyncio.run(_consult(""))
    assert [q["key"] for q in state.questions] == list(iq.QUESTIONS)


def test_the_question_loader_is_rate_limited_per_address(world: dict[str, Any]) -> None:
    iq.add_question(world["actor"], area="acne", text="Which products?")

    async def go() -> IntakeState:
        state = await _consult("clinic-a", ip="203.0.113.77")
        for n in range(ratelimit.INTAKE_QUESTIONS_PER_ADDRESS.max_hits):
            area = "acne" if n % 2 else "teeth"
            await IntakeState.event_handlers["update_field"].fn(state, "concern_area", area)
        return state

    state = asyncio.run(go())
    assert state.questions_note.startswith("Too many requests from this connection")
    # Another connection is not held back.
    other = asyncio.run(_consult("clinic-a", ip="198.51.100.8"))
    assert other.questions_note == ""
