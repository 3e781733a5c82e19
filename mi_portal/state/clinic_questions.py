"""/settings/clinic/questions: the clinic's own intake questions, one concern area at a time.

The area shown is the address's ``?area=`` (``all`` = the questions asked for every area); the
owner adds, moves, retires and restores, a manager reads.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.services import intake_questions as iq
from mi_portal.services.actor import NotFound
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.state.guard import current, guarded, page_block

EVERY = "all"  # the address's name for the questions asked whatever the area
EMPTY_FORM: dict[str, Any] = {"text": "", "help_text": "", "required": False}
AREA_OPTIONS = [
    {"value": EVERY, "label": "Every area"},
    *({"value": key, "label": label} for key, label in iq.CONCERN_AREAS.items()),
]


def url_for(area: str) -> str:
    return f"/settings/clinic/questions?area={area or EVERY}"


def _area_of(value: object) -> str | None:
    """The service's area for the address's value ("" for every area); None if unknown."""
    if value == EVERY:
        return iq.EVERY_AREA
    if isinstance(value, str) and value in iq.CONCERN_AREAS:
        return value
    return None


def _standard() -> str:
    return " · ".join(iq.QUESTIONS.values())


class ClinicQuestionsState(rx.State):
    blocked: str = ""
    loading: bool = True
    can_manage: bool = False
    area: str = EVERY
    area_label: str = ""
    active: list[dict[str, Any]] = []
    retired: list[dict[str, Any]] = []
    empty_text: str = ""
    order_text: str = ""
    form: dict[str, Any] = dict(EMPTY_FORM)
    errors: dict[str, str] = {}
    notice: str = ""
    confirm_id: str = ""
    confirm_text: str = ""

    def _service_area(self) -> str:
        return iq.EVERY_AREA if self.area == EVERY else self.area

    async def _fetch(self) -> None:
        actor = current().actor
        area = self._service_area()
        active, retired = await asyncio.to_thread(iq.list_questions, actor, area)
        self.active = [
            {**asdict(r), "first": i == 0, "last": i == len(active) - 1}
            for i, r in enumerate(active)
        ]
        self.retired = [asdict(r) for r in retired]
        self.empty_text = ""
        if not active and area:
            every, _ = await asyncio.to_thread(iq.list_questions, actor, iq.EVERY_AREA)
            self.empty_text = "No questions of your own for this area: patients see " + (
                "your questions for every area."
                if every
                else f"the standard questions: {_standard()}"
            )
        elif not active:
            self.empty_text = (
                "No questions for every area. Where an area has none of its own either, "
                f"patients see the standard questions: {_standard()}"
            )
        self.order_text = (
            "Asked whatever the patient's concern, after the questions of the area they choose."
            if not area
            else f"Patients who choose “{iq.CONCERN_AREAS[area]}” see these first, then your "
            "questions for every area."
        )

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        signed = current()
        blocked = page_block(Permission.SETTINGS_VIEW)
        self.notice, self.errors, self.confirm_id, self.confirm_text = "", {}, "", ""
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked, self.active, self.retired = blocked, [], []
            return None
        self.blocked = ""
        wanted = self.router.url.query_parameters.get("area", EVERY)
        area = _area_of(wanted)
        if area is None:
            return rx.redirect(url_for(iq.EVERY_AREA), replace=True)
        self.area = area or EVERY
        self.area_label = iq.AREA_LABELS[area]
        self.can_manage = has_permission(signed.actor, Permission.SETTINGS_MANAGE)
        await self._fetch()
        self.loading = False
        return None

    @rx.event
    @guarded(Permission.SETTINGS_VIEW)
    async def choose_area(self, value: str):  # type: ignore[no-untyped-def]
        """Another area: go to its address (what is typed in the form stays in this tab)."""
        area = _area_of(value)
        if area is None:
            return None
        return rx.redirect(url_for(area))

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def set_field(self, key: str, value: Any) -> None:
        if key in ("text", "help_text") and isinstance(value, str):
            self.form = {**self.form, key: value[: iq.MAX_TEXT + 100]}
            self.errors = {k: v for k, v in self.errors.items() if k not in (key, "form")}
        elif key == "required" and isinstance(value, bool):
            self.form = {**self.form, "required": value}

    async def _change(self, call: functools.partial[Any], done: str) -> bool:
        self.errors, self.notice = {}, ""
        try:
            await asyncio.to_thread(call)
        except NotFound:
            self.errors = {"form": "That question was not found. It may have been changed."}
        except iq.QuestionProblem as problem:
            field = problem.field if problem.field in ("text", "help_text") else "form"
            self.errors = {field: problem.message}
        else:
            self.notice = done
        await self._fetch()
        return not self.errors

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def add(self) -> None:
        call = functools.partial(
            iq.add_question,
            current().actor,
            area=self._service_area(),
            text=self.form.get("text", ""),
            help_text=self.form.get("help_text", ""),
            required=self.form.get("required") is True,
        )
        if await self._change(call, "Question added."):
            self.form = dict(EMPTY_FORM)

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def move(self, question_id: str, step: int) -> None:
        if step in (-1, 1) and not isinstance(step, bool):
            call = functools.partial(iq.move_question, current().actor, question_id, step)
            await self._change(call, "Question moved.")

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def ask_retire(self, question_id: str) -> None:
        found = next((q for q in self.active if q["id"] == question_id), None)
        if found is not None:
            self.confirm_id, self.confirm_text = found["id"], found["text"]

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def cancel_retire(self) -> None:
        self.confirm_id = self.confirm_text = ""

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def retire(self) -> None:
        target, self.confirm_id, self.confirm_text = self.confirm_id, "", ""
        if target:  # retiring follows the confirmation dialog, never a bare event
            call = functools.partial(iq.retire_question, current().actor, target)
            await self._change(call, "Question retired. Past cases keep it with their answers.")

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def restore(self, question_id: str) -> None:
        call = functools.partial(iq.restore_question, current().actor, question_id)
        await self._change(call, "Question restored: patients are asked it again.")
