"""/settings/templates: the clinic's message templates (owner and manager)."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.services import message_templates
from mi_portal.services.actor import NotFound
from mi_portal.services.message_templates import VARIABLES, TemplateProblem
from mi_portal.services.permissions import Permission, page_access
from mi_portal.state.guard import current, guarded

EMPTY = {"name": "", "channel": "email", "subject": "", "body": "", "marketing": False}


def field_of(problem: Exception, subject: str) -> str:
    """Which field a save error belongs under."""
    text = str(problem).lower()
    if isinstance(problem, TemplateProblem):
        try:
            message_templates.render(subject, VARIABLES)
        except TemplateProblem:
            return "subject"
        return "body"
    if "name" in text:
        return "name"
    if "subject" in text:
        return "subject"
    if "email or text" in text:
        return "channel"
    if "at most" in text and "templates" in text:
        return "form"
    return "body"


class TemplatesState(rx.State):
    templates: list[dict[str, Any]] = []
    # The form: "" while creating, else the template being edited.
    editing_id: str = ""
    form: dict[str, Any] = dict(EMPTY)
    errors: dict[str, str] = {}
    notice: str = ""
    blocked: str = ""
    loading: bool = True
    confirm_id: str = ""
    confirm_name: str = ""
    variables: list[str] = ["{{ " + name + " }}" for name in VARIABLES]

    async def _fetch(self) -> None:
        actor = current().actor
        rows = await asyncio.to_thread(message_templates.list_templates, actor)
        self.templates = [asdict(r) for r in rows]
        self.loading = False

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        signed = current()
        blocked = page_access(
            signed.actor, Permission.TEMPLATES_MANAGE, has_memberships=bool(signed.memberships)
        )
        self.notice, self.errors = "", {}
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked, self.templates = blocked, []
            return None
        self.blocked = ""
        self.editing_id, self.form = "", dict(EMPTY)
        await self._fetch()
        return None

    @rx.event
    @guarded(Permission.TEMPLATES_MANAGE)
    async def set_field(self, key: str, value: Any) -> None:
        if key in ("name", "subject", "body") and isinstance(value, str):
            self.form = {**self.form, key: value[:5_100]}
        elif key == "channel" and value in ("email", "sms"):
            self.form = {**self.form, "channel": value}
        elif key == "marketing" and isinstance(value, bool):
            self.form = {**self.form, "marketing": value}

    @rx.event
    @guarded(Permission.TEMPLATES_MANAGE)
    async def edit(self, template_id: str) -> None:
        found = next((t for t in self.templates if t["id"] == template_id), None)
        if found is None:
            return
        self.editing_id = found["id"]
        self.form = {k: found[k] for k in EMPTY}
        self.errors, self.notice = {}, ""

    @rx.event
    @guarded(Permission.TEMPLATES_MANAGE)
    async def new(self) -> None:
        self.editing_id, self.form, self.errors, self.notice = "", dict(EMPTY), {}, ""

    async def _save(self, template_id: str | None, form: dict[str, Any], active: bool) -> bool:
        actor = current().actor
        try:
            await asyncio.to_thread(
                functools.partial(
                    message_templates.save_template,
                    actor,
                    template_id,
                    name=form.get("name", ""),
                    channel=form.get("channel", ""),
                    subject=form.get("subject", ""),
                    body=form.get("body", ""),
                    marketing=form.get("marketing") is True,
                    active=active,
                )
            )
        except NotFound:
            self.errors = {"form": "That template was not found."}
            return False
        except ValueError as exc:
            self.errors = {field_of(exc, str(form.get("subject", ""))): str(exc)}
            return False
        return True

    @rx.event
    @guarded(Permission.TEMPLATES_MANAGE)
    async def save(self) -> None:
        self.errors, self.notice = {}, ""
        current_row = next((t for t in self.templates if t["id"] == self.editing_id), None)
        active = current_row["active"] if current_row else True
        if await self._save(self.editing_id or None, self.form, bool(active)):
            self.notice = "Template saved."
            self.editing_id, self.form = "", dict(EMPTY)
            await self._fetch()

    @rx.event
    @guarded(Permission.TEMPLATES_MANAGE)
    async def ask_retire(self, template_id: str) -> None:
        found = next((t for t in self.templates if t["id"] == template_id), None)
        if found is not None:
            self.confirm_id, self.confirm_name = found["id"], found["name"]

    @rx.event
    @guarded(Permission.TEMPLATES_MANAGE)
    async def cancel_retire(self) -> None:
        self.confirm_id = self.confirm_name = ""

    async def _set_active(self, template_id: str, active: bool) -> None:
        found = next((t for t in self.templates if t["id"] == template_id), None)
        self.errors, self.notice = {}, ""
        if found is None:
            return
        if await self._save(found["id"], found, active):
            self.notice = f"{found['name']}: {'reactivated' if active else 'retired'}."
        await self._fetch()

    @rx.event
    @guarded(Permission.TEMPLATES_MANAGE)
    async def retire(self) -> None:
        target, self.confirm_id, self.confirm_name = self.confirm_id, "", ""
        if target:
            await self._set_active(target, False)

    @rx.event
    @guarded(Permission.TEMPLATES_MANAGE)
    async def reactivate(self, template_id: str) -> None:
        await self._set_active(str(template_id), True)
