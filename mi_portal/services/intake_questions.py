"""What the intake form asks: concern areas, the standard questions, and each clinic's own.

A clinic keeps its own questions per concern area ("" = asked whatever the area), in order. A
question is retired, never deleted: a case's answers carry the question's text as it was asked
(``{"<key>": {"question": "…", "answer": "…"}}``), so a retired or reworded question never changes
what a past case shows. Old cases store plain strings under the standard keys; ``answers_as_asked``
reads both shapes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from mi_portal.db import ScopedSession, platform_session, tenant_session
from mi_portal.models import IntakeQuestion, Tenant
from mi_portal.services import audit, clock
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.permissions import Permission, check
from mi_portal.services.text import TextTooLong, clean_text

CONCERN_AREAS = {
    "acne": "Acne",
    "pigmentation": "Pigmentation or dark spots",
    "rosacea": "Redness or rosacea",
    "scarring": "Scars",
    "hair_loss": "Hair loss",
    "body_contour": "Body contour",
    "teeth": "Teeth and smile",
    "other": "Something else",
}
# Asked when a clinic has none of its own for the chosen area, and on the multi-clinic form.
QUESTIONS = {
    "how_long": "How long have you had this concern?",
    "previous_treatment": "Have you had any treatment for it before?",
    "goal": "What would you like to achieve?",
}
EVERY_AREA = ""  # a question asked whatever the concern area
AREA_LABELS = {EVERY_AREA: "Every area", **CONCERN_AREAS}
MIN_TEXT, MAX_TEXT, MAX_HELP = 3, 300, 300
MAX_ANSWER = 1000
MAX_PER_AREA = 10


class QuestionProblem(ValueError):
    """A question that cannot be saved; ``field`` is the form field the message belongs under."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class AskedQuestion:
    """A question as the patient's form shows it: built-in key or the clinic question's id."""

    key: str
    text: str
    help_text: str = ""
    required: bool = False


BUILT_IN = [AskedQuestion(key, text) for key, text in QUESTIONS.items()]


@dataclass(frozen=True)
class QuestionRow:
    id: str
    area: str
    text: str
    help_text: str
    required: bool
    position: int
    retired_at: str


def _row(q: IntakeQuestion) -> QuestionRow:
    return QuestionRow(
        id=str(q.id),
        area=q.concern_area,
        text=q.text,
        help_text=q.help_text,
        required=q.required,
        position=q.position,
        retired_at=q.retired_at.strftime("%Y-%m-%d") if q.retired_at else "",
    )


def _area(value: object) -> str:
    if not isinstance(value, str) or value not in AREA_LABELS:
        raise QuestionProblem("area", "Choose a concern area.")
    return value


def _in_area(session: ScopedSession, area: str, *, active: bool) -> list[IntakeQuestion]:
    retired = col(IntakeQuestion.retired_at)
    return list(
        session.exec(
            select(IntakeQuestion)
            .where(IntakeQuestion.concern_area == area)
            .where(retired.is_(None) if active else retired.is_not(None))
            .order_by(col(IntakeQuestion.position), col(IntakeQuestion.created_at))
        )
    )


def _renumber(session: ScopedSession, rows: Sequence[IntakeQuestion]) -> None:
    """Positions 0..n-1 in the given order, so moving up and down never skips a gap."""
    for position, row in enumerate(rows):
        if row.position != position:
            row.position = position
            session.add(row)


def list_questions(actor: Actor, area: object) -> tuple[list[QuestionRow], list[QuestionRow]]:
    """(active in order, retired) questions of one concern area of the actor's clinic."""
    check(actor, Permission.SETTINGS_VIEW)
    wanted = _area(area)
    with tenant_session(actor.require_tenant()) as session:
        active = [_row(q) for q in _in_area(session, wanted, active=True)]
        retired = [_row(q) for q in _in_area(session, wanted, active=False)]
    retired.sort(key=lambda r: r.retired_at, reverse=True)
    return active, retired


def _clean(text: object, help_text: object) -> tuple[str, str]:
    try:
        clean = clean_text(text, max_length=MAX_TEXT)
    except TextTooLong:
        raise QuestionProblem("text", f"Use at most {MAX_TEXT} characters.") from None
    if len(clean) < MIN_TEXT:
        raise QuestionProblem("text", f"Write the question (at least {MIN_TEXT} characters).")
    try:
        hint = clean_text(help_text, max_length=MAX_HELP)
    except TextTooLong:
        raise QuestionProblem("help_text", f"Use at most {MAX_HELP} characters.") from None
    return clean, hint


def _full(session: ScopedSession, area: str) -> None:
    if len(_in_area(session, area, active=True)) >= MAX_PER_AREA:
        raise QuestionProblem(
            "form",
            f"An area can have at most {MAX_PER_AREA} questions. Retire one to make room.",
        )


def add_question(
    actor: Actor, *, area: object, text: object, help_text: object = "", required: object = False
) -> str:
    """A new question at the end of its area; audited with what was added."""
    check(actor, Permission.SETTINGS_MANAGE)
    wanted = _area(area)
    clean, hint = _clean(text, help_text)
    with tenant_session(actor.require_tenant()) as session:
        _full(session, wanted)
        active = _in_area(session, wanted, active=True)
        _renumber(session, active)
        row = IntakeQuestion(
            concern_area=wanted,
            position=len(active),
            text=clean,
            help_text=hint,
            required=required is True,
            created_at=clock.now(),
        )
        session.add(row)
        session.commit()
        question_id, position = row.id, row.position
    audit.record(
        actor,
        "clinic.question_added",
        target_type="intake_question",
        target_id=question_id,
        details={
            "area": wanted,
            "text": [None, clean],
            "help_text": [None, hint],
            "required": [None, required is True],
            "position": [None, position],
        },
    )
    return str(question_id)


def _question(session: ScopedSession, actor: Actor, question_id: object) -> IntakeQuestion:
    row = session.get(IntakeQuestion, (actor.tenant_id, parse_id(question_id, "question")))
    if row is None:
        raise NotFound("question")  # another clinic's question answers like a missing one
    return row


def move_question(actor: Actor, question_id: object, step: object) -> None:
    """One place up (-1) or down (+1) within its area; nothing happens at either end."""
    check(actor, Permission.SETTINGS_MANAGE)
    if step not in (-1, 1) or isinstance(step, bool):
        raise QuestionProblem("form", "Move a question up or down.")
    with tenant_session(actor.require_tenant()) as session:
        row = _question(session, actor, question_id)
        if row.retired_at is not None:
            raise QuestionProblem("form", "Restore the question before moving it.")
        active = _in_area(session, row.concern_area, active=True)
        old = next(i for i, q in enumerate(active) if q.id == row.id)
        new = old + (-1 if step == -1 else 1)
        if not 0 <= new < len(active):
            return
        active[old], active[new] = active[new], active[old]
        _renumber(session, active)
        session.commit()
        area, text = row.concern_area, row.text
    audit.record(
        actor,
        "clinic.question_moved",
        target_type="intake_question",
        target_id=row.id,
        details={"area": area, "text": text, "position": [old, new]},
    )


def retire_question(actor: Actor, question_id: object) -> None:
    """No longer asked; kept, so past answers keep their question (and it can be restored)."""
    check(actor, Permission.SETTINGS_MANAGE)
    with tenant_session(actor.require_tenant()) as session:
        row = _question(session, actor, question_id)
        if row.retired_at is not None:
            return
        old = row.position
        row.retired_at = clock.now()
        session.add(row)
        _renumber(
            session, [q for q in _in_area(session, row.concern_area, active=True) if q.id != row.id]
        )
        session.commit()
        area, text = row.concern_area, row.text
    audit.record(
        actor,
        "clinic.question_retired",
        target_type="intake_question",
        target_id=row.id,
        details={"area": area, "text": text, "retired": [False, True], "position": [old, None]},
    )


def restore_question(actor: Actor, question_id: object) -> None:
    """Asked again, at the end of its area."""
    check(actor, Permission.SETTINGS_MANAGE)
    with tenant_session(actor.require_tenant()) as session:
        row = _question(session, actor, question_id)
        if row.retired_at is None:
            return
        _full(session, row.concern_area)
        active = _in_area(session, row.concern_area, active=True)
        _renumber(session, active)
        row.retired_at, row.position = None, len(active)
        session.add(row)
        session.commit()
        area, text, position = row.concern_area, row.text, row.position
    audit.record(
        actor,
        "clinic.question_restored",
        target_type="intake_question",
        target_id=row.id,
        details={
            "area": area,
            "text": text,
            "retired": [True, False],
            "position": [None, position],
        },
    )


def asked_in(tenant_id: uuid.UUID, area: str) -> list[AskedQuestion]:
    """The clinic's questions for ``area`` then those for every area; the standard ones if none."""
    areas = [area, EVERY_AREA] if area in CONCERN_AREAS else [EVERY_AREA]
    with tenant_session(tenant_id) as session:
        rows = [q for a in areas for q in _in_area(session, a, active=True)]
    if not rows:
        return list(BUILT_IN)
    return [AskedQuestion(str(q.id), q.text, q.help_text, q.required) for q in rows]


def for_clinic_form(slug: object, area: object) -> list[AskedQuestion]:
    """The questions of an active clinic's own form (public: question texts only)."""
    if not isinstance(slug, str) or not slug:
        return list(BUILT_IN)
    with platform_session() as session:
        tenant_id = session.exec(
            select(Tenant.id).where(Tenant.slug == slug[:100], Tenant.active)
        ).first()
    if tenant_id is None:
        return list(BUILT_IN)
    return asked_in(tenant_id, area if isinstance(area, str) else "")


def answers_to_store(
    questions: Sequence[AskedQuestion], answers: Mapping[str, str]
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """(answers as stored, with each question's text as asked; per-field errors)."""
    stored: dict[str, dict[str, str]] = {}
    errors: dict[str, str] = {}
    for question in questions:
        value = str(answers.get(question.key) or "")[:MAX_ANSWER].rstrip()
        if value:
            stored[question.key] = {"question": question.text, "answer": value}
        elif question.required:
            errors[f"answer-{question.key}"] = "Answer this question."
    return stored, errors


def answers_as_asked(answers: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(question, answer) pairs of a case, in the order they were asked, whatever their shape."""
    pairs = []
    for key, value in (answers or {}).items():
        if isinstance(value, Mapping):
            question = str(value.get("question") or QUESTIONS.get(key, key))
            pairs.append((question, str(value.get("answer") or "")))
        else:  # cases sent before clinics had questions: a plain string under a standard key
            pairs.append((QUESTIONS.get(key, key), str(value)))
    return pairs
