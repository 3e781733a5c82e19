"""/settings/clinic/hours: the clinic's reply and quote targets, opening hours and closed days.

The form holds what was typed (kept as typed after an error); the service checks and saves it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import reflex as rx

from mi_portal.services import sla_settings
from mi_portal.services.business_time import DAY_NAMES
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.services.sla_settings import ClosedDay, DayHours, SlaForm, SlaProblem
from mi_portal.state.guard import current, guarded, page_block

_MAX_TYPED = 8  # hours and times are short; a little more shows a mistyped one


def _typed(value: object) -> str:
    return str(value)[:_MAX_TYPED] if isinstance(value, str | int) else ""


class ClinicHoursState(rx.State):
    blocked: str = ""
    loading: bool = True
    can_manage: bool = False
    timezone: str = ""
    first_hours: str = ""
    quote_hours: str = ""
    every_hour: bool = False
    week: list[dict[str, Any]] = []
    closed: list[dict[str, Any]] = []
    new_day: str = ""
    new_label: str = ""
    errors: dict[str, str] = {}
    preview: str = ""
    notice: str = ""
    error: str = ""
    dirty: bool = False  # something typed since the last load or save
    confirming: str = ""  # "prune" | "discard": the dialog that is open

    @rx.var
    def days(self) -> list[dict[str, Any]]:
        """The week as shown: each day with its own error ("" when it has none)."""
        return [{**d, "error": self.errors.get(d["key"], "")} for d in self.week]

    @rx.var
    def has_past_days(self) -> bool:
        return any(c.get("past") for c in self.closed)

    def _form(self) -> SlaForm:
        return SlaForm(
            first_response_hours=self.first_hours,
            quote_turnaround_hours=self.quote_hours,
            every_hour=self.every_hour,
            week=[
                DayHours(d["key"], d["label"], bool(d["open"]), d["opens"], d["closes"])
                for d in self.week
            ],
            closed_days=[ClosedDay(c["day"], c["label"], bool(c["past"])) for c in self.closed],
        )

    async def _fetch(self) -> None:
        settings = await asyncio.to_thread(sla_settings.get_settings, current().actor)
        form = settings.form
        self.can_manage = settings.can_manage
        self.timezone = settings.timezone
        self.first_hours, self.quote_hours = form.first_response_hours, form.quote_turnaround_hours
        self.every_hour = form.every_hour
        self.week = [
            {"key": d.key, "label": d.label, "open": d.open, "opens": d.opens, "closes": d.closes}
            for d in form.week
        ]
        self.closed = [{"day": c.day, "label": c.label, "past": c.past} for c in form.closed_days]
        self.errors, self.new_day, self.new_label = {}, "", ""
        self.dirty, self.confirming = False, ""
        self._preview()

    def _new_day_error(self) -> dict[str, str]:
        """The date being added is not part of the form: its error stays until it is retyped."""
        return {"new_day": self.errors["new_day"]} if "new_day" in self.errors else {}

    def _preview(self) -> None:
        """Check what is typed; the preview line follows it while it is valid."""
        try:
            parsed = sla_settings.parse(self._form())
        except SlaProblem as problem:
            self.errors = {**problem.errors, **self._new_day_error()}
            self.preview = ""
            return
        self.errors = self._new_day_error()
        self.preview = sla_settings.preview(self.timezone, parsed)

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        signed = current()
        self.notice, self.error = "", ""
        blocked = page_block(Permission.SETTINGS_VIEW)
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked, self.week, self.closed, self.preview = blocked, [], [], ""
            return None
        self.blocked = ""
        self.can_manage = has_permission(signed.actor, Permission.SETTINGS_MANAGE)
        await self._fetch()
        self.loading = False
        return None

    def _edited(self) -> None:
        self.notice, self.dirty = "", True
        self._preview()

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def set_first_hours(self, value: str) -> None:
        self.first_hours = _typed(value)
        self._edited()

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def set_quote_hours(self, value: str) -> None:
        self.quote_hours = _typed(value)
        self._edited()

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def set_every_hour(self, value: bool) -> None:
        self.every_hour = value is True
        self._edited()

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def set_day_open(self, key: str, value: bool) -> None:
        if key in DAY_NAMES:
            self.week = [{**d, "open": value is True} if d["key"] == key else d for d in self.week]
            self._edited()

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def set_day_time(self, key: str, which: str, value: str) -> None:
        if key in DAY_NAMES and which in ("opens", "closes"):
            typed = _typed(value)
            self.week = [{**d, which: typed} if d["key"] == key else d for d in self.week]
            self._edited()

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def set_new_day(self, value: str) -> None:
        self.new_day = str(value)[:10] if isinstance(value, str) else ""
        self.errors = {k: v for k, v in self.errors.items() if k != "new_day"}

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def set_new_label(self, value: str) -> None:
        limit = sla_settings.MAX_LABEL + 1  # one over the limit: the service says so
        self.new_label = str(value)[:limit] if isinstance(value, str) else ""

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def add_closed_day(self) -> None:
        try:
            day = sla_settings.parse_new_day(self.new_day)
        except SlaProblem as problem:
            self.errors = {**self.errors, **problem.errors}
            return
        kept = [c for c in self.closed if c["day"] != day]
        added = {"day": day, "label": self.new_label.strip(), "past": False}
        self.closed = sorted([*kept, added], key=lambda c: c["day"])
        self.new_day, self.new_label = "", ""
        self._edited()

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def remove_closed_day(self, day: str) -> None:
        self.closed = [c for c in self.closed if c["day"] != day]
        self._edited()

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def ask_discard(self) -> None:
        self.confirming = "discard" if self.dirty else ""

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def ask_prune(self) -> None:
        self.confirming = "prune" if self.has_past_days else ""

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def cancel_confirm(self) -> None:
        self.confirming = ""

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def discard(self) -> None:
        if self.confirming != "discard":
            return  # discarding follows the confirmation dialog, never a bare event
        self.notice, self.error = "", ""
        await self._fetch()

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def prune_past(self) -> None:
        if self.confirming != "prune":
            return  # pruning follows the confirmation dialog, never a bare event
        self.notice, self.error = "", ""
        typed = (self.dirty, self.first_hours, self.quote_hours, self.every_hour, self.week)
        closed = [c for c in self.closed if not c.get("past")]
        removed = await asyncio.to_thread(sla_settings.prune_past_days, current().actor)
        await self._fetch()
        if typed[0]:
            # Unsaved edits stay in the form, less the past days just removed.
            self.first_hours, self.quote_hours, self.every_hour, self.week = typed[1:]
            self.closed = closed
            self._edited()
        self.notice = f"Removed {removed} past closed day{'' if removed == 1 else 's'}." + (
            " Your other changes are not saved yet." if typed[0] else ""
        )

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def save(self) -> None:
        self.notice, self.error = "", ""
        try:
            count = await asyncio.to_thread(
                functools.partial(sla_settings.save, current().actor, self._form())
            )
        except SlaProblem as problem:
            self.errors = {**problem.errors, **self._new_day_error()}
            self.error = "Nothing was saved: correct the fields marked below."
            return
        await self._fetch()
        cases = "case's due time was" if count == 1 else "cases' due times were"
        self.notice = f"Saved. {count} open {cases} recalculated."
