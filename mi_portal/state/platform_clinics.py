"""/platform/clinics: every clinic for platform staff; admins create, suspend, reactivate and
off-board them.

The status filter and the search live in the address (``?status=&q=``); the controls show what
the address says. Every change waits for a confirmation dialog that keeps what was typed.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from mi_portal.config import get_settings
from mi_portal.services import clinic_lifecycle as lifecycle
from mi_portal.services.actor import NotFound, PermissionDenied
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.services.rights_deadlines import JURISDICTIONS
from mi_portal.state.guard import current, guarded, page_block

BASE = "/platform/clinics"
FIELDS = (
    "name", "slug", "timezone", "locale", "currency", "jurisdiction", "owner_email", "owner_name",
)  # fmt: skip
BLANK = {
    "name": "", "slug": "", "timezone": "UTC", "locale": "en_US", "currency": "USD",
    "jurisdiction": "", "owner_email": "", "owner_name": "",
}  # fmt: skip
ACTIONS = ("suspend", "reactivate", "offboard")
JURISDICTION_CHOICES = [{"code": c, "label": label} for c, label in JURISDICTIONS]


def _date(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else "—"


def _row(row: lifecycle.ClinicRow) -> dict[str, str]:
    view = asdict(row)
    view["created"] = _date(row.created_at)
    view["last_activity"] = _date(row.last_activity)
    view["staff"] = str(row.staff)
    view.pop("created_at")
    return {k: str(v) for k, v in view.items()}


def address(status: str, search: str) -> str:
    query = {k: v for k, v in (("status", status), ("q", search)) if v}
    return BASE + ("?" + urlencode(query) if query else "")


class PlatformClinicsState(rx.State):
    blocked: str = ""
    loading: bool = True
    rows: list[dict[str, str]] = []
    status: str = ""
    search: str = ""
    can_manage: bool = False
    error: str = ""
    notice: str = ""
    invite_link: str = ""
    # The new clinic's form: what was typed stays through an error.
    creating: bool = False
    form: dict[str, str] = dict(BLANK)
    form_errors: dict[str, str] = {}
    # The action waiting for confirmation, the clinic it is for and what was typed for it.
    confirming: str = ""
    target: dict[str, str] = {}
    text: str = ""
    dialog_error: str = ""
    working: bool = False

    async def _fetch(self) -> None:
        rows = await asyncio.to_thread(
            functools.partial(
                lifecycle.list_clinics, current().actor, status=self.status, search=self.search
            )
        )
        self.rows = [_row(r) for r in rows]

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.rows, self.error, self.notice, self.invite_link = [], "", "", ""
        self.confirming, self.creating, self.working = "", False, False
        signed = current()
        blocked = page_block(Permission.CLINICS_LIST)
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked = blocked
            return None
        self.blocked = ""
        self.can_manage = has_permission(signed.actor, Permission.CLINICS_MANAGE)
        query = self.router.url.query_parameters
        status = str(query.get("status", ""))
        self.status = status if status in lifecycle.STATUS_LABELS else ""
        self.search = str(query.get("q", ""))[:100]
        await self._fetch()
        self.loading = False
        return None

    @rx.event
    @guarded(Permission.CLINICS_LIST)
    async def apply_search(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        data = form_data if isinstance(form_data, dict) else {}
        # The status filter stays as the address has it.
        status = str(self.router.url.query_parameters.get("status", ""))
        status = status if status in lifecycle.STATUS_LABELS else ""
        return rx.redirect(address(status, str(data.get("q", "")).strip()[:100]))

    # --- a new clinic ---------------------------------------------------------------------

    @rx.event
    @guarded(Permission.CLINICS_MANAGE)
    async def open_new(self) -> None:
        self.creating, self.form_errors, self.invite_link = True, {}, ""

    @rx.event
    @guarded(Permission.CLINICS_MANAGE)
    async def close_new(self) -> None:
        self.creating, self.form_errors = False, {}

    @rx.event
    @guarded(Permission.CLINICS_MANAGE)
    async def set_field(self, name: str, value: str) -> None:
        if name in FIELDS and isinstance(value, str):
            self.form = {**self.form, name: value[:300]}
            self.form_errors = {k: v for k, v in self.form_errors.items() if k != name}

    @rx.event
    @guarded(Permission.CLINICS_MANAGE)
    async def create(self) -> None:
        self.error = self.notice = self.invite_link = ""
        values = {k: self.form.get(k, "") for k in FIELDS}
        try:
            created = await asyncio.to_thread(
                functools.partial(lifecycle.create_clinic, current().actor, **values)
            )
        except lifecycle.ClinicInvalid as exc:
            self.form_errors = exc.errors
            return
        except (ValueError, PermissionDenied) as exc:
            self.form_errors = {"name": str(exc) or "The clinic could not be created."}
            return
        self.creating, self.form, self.form_errors = False, dict(BLANK), {}
        self.notice = f"Created {values['name'].strip()} at /c/{created.slug}."
        if created.invite_token:
            origin = get_settings().frontend_origin.rstrip("/")
            self.invite_link = f"{origin}/invite?token={created.invite_token}"
        else:
            self.notice += " The owner already had an account: they see the clinic at sign-in."
        await self._fetch()

    # --- suspend, reactivate, off-board -----------------------------------------------------

    @rx.event
    @guarded(Permission.CLINICS_MANAGE)
    async def ask(self, action: str, tenant_id: str) -> None:
        self.error = self.notice = self.dialog_error = self.text = ""
        row = next((r for r in self.rows if r["id"] == tenant_id), None)
        if action in ACTIONS and row is not None:
            self.confirming, self.target = action, row

    @rx.event
    @guarded(Permission.CLINICS_MANAGE)
    async def set_text(self, value: str) -> None:
        self.text = value[:1000] if isinstance(value, str) else ""
        self.dialog_error = ""

    @rx.event
    @guarded(Permission.CLINICS_MANAGE)
    async def cancel(self) -> None:
        self.confirming, self.dialog_error, self.working = "", "", False

    @rx.event
    @guarded(Permission.CLINICS_MANAGE)
    async def start(self) -> None:
        self.working = True

    @rx.event
    @guarded(Permission.CLINICS_MANAGE)
    async def confirm(self) -> None:
        action, actor = self.confirming, current().actor
        tenant_id, name = self.target.get("id", ""), self.target.get("name", "")
        if action not in ACTIONS:
            self.working = False
            return
        self.dialog_error = ""
        try:
            if action == "suspend":
                await asyncio.to_thread(lifecycle.suspend, actor, tenant_id, self.text)
                notice = (
                    f"{name} is suspended. Its staff and patients are refused until reactivated."
                )
            elif action == "reactivate":
                await asyncio.to_thread(lifecycle.reactivate, actor, tenant_id)
                notice = f"{name} is active again."
            else:
                done = await asyncio.to_thread(lifecycle.offboard, actor, tenant_id, self.text)
                notice = (
                    f"{name} is closed: {done.rows_exported} rows and {done.objects_exported} "
                    f"files were exported to {done.export_dir} on the server, then "
                    f"{done.cases_purged} cases were purged. Its address stays retired."
                )
                if done.objects_missing:
                    notice += f" {done.objects_missing} files were already missing from the store."
        except NotFound:
            self.confirming, self.working, self.error = "", False, "That clinic was not found."
            await self._fetch()
            return
        except ValueError as exc:
            self.working = False
            self.dialog_error = str(exc)  # the dialog stays open with what was typed
            await self._fetch()
            return
        self.confirming, self.text, self.working, self.notice = "", "", False, notice
        await self._fetch()
