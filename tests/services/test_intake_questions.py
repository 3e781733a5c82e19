"""A clinic's own intake questions: added, moved, retired and restored (never deleted), audited
with old and new values, kept inside the clinic; the clinic's form asks them and each case keeps
the question's text as it was asked, also once the question is retired."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, IntakeQuestion, Role, Submission
from mi_portal.services import cases, intake, rights_access
from mi_portal.services import intake_questions as iq
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.intake_questions import QUESTIONS
from mi_portal.storage import get_store
from tests.conftest import Database
from tests.factories import make_tenant, make_user
from tests.intake_helpers import form, photos
from tests.rights_helpers import forward, unzip


def _member(tenant_id: uuid.UUID, role: Role) -> Actor:
    user_id, _ = make_user(
        f"{uuid.uuid4().hex[:8]}@staff.test", role=role.value, tenants=(tenant_id,)
    )
    return Actor(user_id=user_id, role=role, tenant_id=tenant_id, home_tenant_id=tenant_id)


@pytest.fixture
def world(db: Database) -> dict[str, Any]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    return {
        "a": a,
        "b": b,
        "owner": _member(a, Role.CLINIC_OWNER),
        "manager": _member(a, Role.CLINIC_MANAGER),
        "b_owner": _member(b, Role.CLINIC_OWNER),
    }


def _texts(actor: Actor, area: str) -> tuple[list[str], list[str]]:
    active, retired = iq.list_questions(actor, area)
    return [q.text for q in active], [q.text for q in retired]


def _audit(tenant_id: uuid.UUID, prefix: str = "clinic.question") -> list[tuple[str, Any]]:
    with tenant_session(tenant_id) as session:
        rows = session.exec(
            select(AuditEvent.action, AuditEvent.details)
            .where(AuditEvent.chain == str(tenant_id))
            .where(col(AuditEvent.action).startswith(prefix))
            .order_by(col(AuditEvent.occurred_at), col(AuditEvent.id))
        ).all()
    return [(action, details) for action, details in rows]


def _package_answers(owner: Actor, tenant_id: uuid.UUID) -> list[dict[str, str]]:
    """The answers of the patient's case as the access package's JSON holds them."""
    fid = forward(tenant_id, "access")
    key = rights_access.prepare_package(owner, fid).package_key
    special = json.loads(unzip(get_store().get(key))["special_category.json"])
    (record,) = [r for r in special["records"] if r["record"] == "Your request (intake form)"]
    return record["fields"]["answers"]


def _submit(slug: str, **fields: object) -> None:
    intake.submit(
        clinic_slugs=[slug],
        form=form(**fields),
        photos=photos(1),
        ip="203.0.113.9",
        user_agent="Patient browser",
        source=f"clinic_page:{slug}",
        own_questions=True,
    )


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_add_move_retire_restore_keep_positions_dense_and_audit_old_and_new(
    world: dict[str, Any],
) -> None:
    owner, a = world["owner"], world["a"]
    first = iq.add_question(owner, area="acne", text="  Which  products do you use? ")
    iq.add_question(
        owner, area="acne", text="Any allergies?", help_text="Medicines too", required=True
    )
    third = iq.add_question(owner, area="acne", text="Are you pregnant?")
    iq.add_question(owner, area="", text="How did you hear of us?")
    assert _texts(owner, "acne") == (
        ["Which products do you use?", "Any allergies?", "Are you pregnant?"],
        [],
    )
    assert _texts(owner, "") == (["How did you hear of us?"], [])

    iq.move_question(owner, third, -1)
    iq.move_question(owner, first, -1)  # already first: nothing happens, nothing is audited
    assert _texts(owner, "acne")[0] == [
        "Which products do you use?",
        "Are you pregnant?",
        "Any allergies?",
    ]
    iq.retire_question(owner, first)
    active, retired = iq.list_questions(owner, "acne")
    assert [(q.text, q.position) for q in active] == [
        ("Are you pregnant?", 0),
        ("Any allergies?", 1),
    ]
    assert [q.text for q in retired] == ["Which products do you use?"] and retired[0].retired_at
    iq.restore_question(owner, first)
    active, retired = iq.list_questions(owner, "acne")
    assert [(q.text, q.position) for q in active] == [
        ("Are you pregnant?", 0),
        ("Any allergies?", 1),
        ("Which products do you use?", 2),
    ]
    assert retired == [] and active[1].required and active[1].help_text == "Medicines too"
    # Retired, never deleted: the row is still there.
    with tenant_session(a) as session:
        assert len(session.exec(select(IntakeQuestion)).all()) == 4

    events = _audit(a)
    assert [e[0] for e in events] == [
        "clinic.question_added",
        "clinic.question_added",
        "clinic.question_added",
        "clinic.question_added",
        "clinic.question_moved",
        "clinic.question_retired",
        "clinic.question_restored",
    ]
    assert events[1][1] == {
        "area": "acne",
        "text": [None, "Any allergies?"],
        "help_text": [None, "Medicines too"],
        "required": [None, True],
        "position": [None, 1],
    }
    assert events[4][1] == {"area": "acne", "text": "Are you pregnant?", "position": [2, 1]}
    assert events[5][1]["retired"] == [False, True] and events[5][1]["position"] == [0, None]
    assert events[6][1]["retired"] == [True, False] and events[6][1]["position"] == [None, 2]


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_text_is_cleaned_and_checked_and_each_area_has_a_cap(world: dict[str, Any]) -> None:
    owner = world["owner"]
    for text, field, message in (
        ("\u200b a\u200d ", "text", "at least 3"),
        ("x" * 301, "text", "at most 300"),
    ):
        with pytest.raises(iq.QuestionProblem, match=message) as problem:
            iq.add_question(owner, area="acne", text=text)
        assert problem.value.field == field
    with pytest.raises(iq.QuestionProblem) as problem:
        iq.add_question(owner, area="acne", text="Fine question", help_text="h" * 301)
    assert problem.value.field == "help_text"
    with pytest.raises(iq.QuestionProblem) as problem:
        iq.add_question(owner, area="elbows", text="Fine question")
    assert problem.value.field == "area"
    with pytest.raises(iq.QuestionProblem):
        iq.move_question(owner, iq.add_question(owner, area="acne", text="Q 0"), 5)
    for n in range(1, iq.MAX_PER_AREA):
        iq.add_question(owner, area="acne", text=f"Q {n}")
    with pytest.raises(iq.QuestionProblem, match="at most 10"):
        iq.add_question(owner, area="acne", text="One too many")
    # Another area is not full; a retired question makes room, and restoring needs room.
    iq.add_question(owner, area="teeth", text="Braces before?")
    active, _ = iq.list_questions(owner, "acne")
    iq.retire_question(owner, active[0].id)
    iq.add_question(owner, area="acne", text="Now there is room")
    with pytest.raises(iq.QuestionProblem, match="at most 10"):
        iq.restore_question(owner, active[0].id)
    assert _audit(world["a"], "clinic.question_added")[-1][1]["text"] == [None, "Now there is room"]


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_another_clinics_questions_are_never_seen_and_managers_only_read(
    world: dict[str, Any],
) -> None:
    owner, manager, b_owner = world["owner"], world["manager"], world["b_owner"]
    mine = iq.add_question(owner, area="acne", text="Clinic A's own question")
    iq.add_question(b_owner, area="acne", text="Clinic B's own question")
    assert _texts(owner, "acne") == (["Clinic A's own question"], [])
    assert _texts(b_owner, "acne") == (["Clinic B's own question"], [])
    # Another clinic's question answers like a missing one, whatever is done with it.
    for act in (
        lambda: iq.retire_question(b_owner, mine),
        lambda: iq.move_question(b_owner, mine, 1),
        lambda: iq.restore_question(b_owner, mine),
        lambda: iq.retire_question(owner, "not-an-id"),
    ):
        with pytest.raises(NotFound):
            act()
    # A manager reads; every change is refused.
    assert _texts(manager, "acne") == (["Clinic A's own question"], [])
    for act in (
        lambda: iq.add_question(manager, area="acne", text="Manager's question"),
        lambda: iq.retire_question(manager, mine),
        lambda: iq.move_question(manager, mine, 1),
        lambda: iq.restore_question(manager, mine),
    ):
        with pytest.raises(PermissionDenied):
            act()
    assert _texts(owner, "acne") == (["Clinic A's own question"], [])
    coordinator = _member(world["a"], Role.COORDINATOR)
    with pytest.raises(PermissionDenied):
        iq.list_questions(coordinator, "acne")
    # The public form of each clinic asks only that clinic's questions.
    assert [q.text for q in iq.for_clinic_form("clinic-a", "acne")] == ["Clinic A's own question"]
    assert [q.text for q in iq.for_clinic_form("clinic-b", "acne")] == ["Clinic B's own question"]


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_the_form_asks_the_areas_questions_then_every_areas_else_the_standard_ones(
    world: dict[str, Any],
) -> None:
    owner = world["owner"]
    standard = [(q.key, q.text) for q in iq.BUILT_IN]
    assert [(q.key, q.text) for q in iq.for_clinic_form("clinic-a", "acne")] == standard
    acne = iq.add_question(owner, area="acne", text="Which products?", required=True)
    every = iq.add_question(owner, area="", text="How did you hear of us?")
    asked = iq.for_clinic_form("clinic-a", "acne")
    assert [(q.key, q.text, q.required) for q in asked] == [
        (acne, "Which products?", True),
        (every, "How did you hear of us?", False),
    ]
    # Another area: the questions for every area only; before an area is chosen, the same.
    assert [q.key for q in iq.for_clinic_form("clinic-a", "teeth")] == [every]
    assert [q.key for q in iq.for_clinic_form("clinic-a", "")] == [every]
    iq.retire_question(owner, every)
    assert [(q.key, q.text) for q in iq.for_clinic_form("clinic-a", "teeth")] == standard
    # Unknown clinics get the standard questions (nothing to tell apart).
    assert [(q.key, q.text) for q in iq.for_clinic_form("no-such-clinic", "acne")] == standard


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_required_questions_are_enforced_and_answers_keep_the_text_asked(
    world: dict[str, Any],
) -> None:
    owner, a = world["owner"], world["a"]
    required = iq.add_question(owner, area="acne", text="Which products do you use?", required=True)
    optional = iq.add_question(owner, area="acne", text="Anything else?")
    with pytest.raises(intake.IntakeInvalid) as invalid:
        _submit("clinic-a", answers={"how_long": "months"})
    assert invalid.value.errors == {f"answer-{required}": "Answer this question."}
    _submit(
        "clinic-a", answers={required: "A gentle cleanser", optional: "", "how_long": "dropped"}
    )
    with tenant_session(a) as session:
        case = session.exec(select(Submission)).one()
    assert case.answers == {
        required: {"question": "Which products do you use?", "answer": "A gentle cleanser"}
    }
    # Several clinics at once: the standard questions, whatever each clinic asks on its own page.
    intake.submit(
        clinic_slugs=["clinic-a", "clinic-b"],
        form=form(email="both@example.org"),
        photos=photos(1),
        ip=None,
        user_agent=None,
        source="directory",
        own_questions=True,
    )
    with tenant_session(a) as session:
        latest = session.exec(
            select(Submission).order_by(col(Submission.received_at).desc())
        ).first()
    assert latest is not None and set(latest.answers) == {"how_long", "goal"}


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_a_retired_questions_past_answers_still_show_with_their_original_text(
    world: dict[str, Any],
) -> None:
    owner, manager, a = world["owner"], world["manager"], world["a"]
    asked = iq.add_question(owner, area="acne", text="Which products do you use?", required=True)
    _submit("clinic-a", answers={asked: "A gentle cleanser"})
    iq.retire_question(owner, asked)
    iq.add_question(owner, area="acne", text="Which products do you use daily?")
    with tenant_session(a) as session:
        case_id = session.exec(select(Submission.id)).one()
    detail = cases.case_detail(manager, case_id)
    assert detail.answers == [("Which products do you use?", "A gentle cleanser")]

    # The access package shows each question as asked, with its answer.
    assert _package_answers(owner, a) == [
        {"question": "Which products do you use?", "answer": "A gentle cleanser"}
    ]


@pytest.mark.parametrize("db", ["sqlite", "postgres"], indirect=True)
def test_cases_sent_before_answers_carried_their_question_still_show(
    world: dict[str, Any],
) -> None:
    owner, a = world["owner"], world["a"]
    _submit("clinic-a")
    with tenant_session(a) as session:
        case = session.exec(select(Submission)).one()
        case.answers = {"how_long": "months", "goal": "clear skin"}  # the old shape
        session.add(case)
        session.commit()
        case_id = case.id
    assert cases.case_detail(owner, case_id).answers == [
        (QUESTIONS["how_long"], "months"),
        (QUESTIONS["goal"], "clear skin"),
    ]
    assert _package_answers(owner, a) == [
        {"question": QUESTIONS["how_long"], "answer": "months"},
        {"question": QUESTIONS["goal"], "answer": "clear skin"},
    ]
