"""The legal-hold card of the case page: list the case's holds; place and release them."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.services import legal_holds
from mi_portal.services.actor import NotFound
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.state.guard import current, guarded

SCOPES = ("case", "patient")


def _form(form_data: Any) -> dict[str, Any]:
    return form_data if isinstance(form_data, dict) else {}


class HoldsState(rx.State):
    holds: list[dict[str, Any]] = []
    held: bool = False
    can_manage: bool = False
    error: str = ""
    notice: str = ""
    # The hold a release waits to be confirmed for, and the reason given for it.
    confirm_id: str = ""
    confirm_reason: str = ""

    def _case_id(self) -> str:
        return str(self.id)[:64]  # type: ignore[attr-defined]  (route argument)

    async def _refresh(self) -> None:
        actor = current().actor
        try:
            views = await asyncio.to_thread(legal_holds.holds_for_case, actor, self._case_id())
        except NotFound:
            views = []
        self._show(views)

    def _show(self, views: list[legal_holds.HoldView]) -> None:
        self.holds = [asdict(v) for v in views]
        self.held = any(v.active for v in views)

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def load(self) -> None:
        await self._open()

    async def _open(self) -> None:
        """The case's holds (inside a guarded handler)."""
        self._start()
        await self._refresh()

    def _start(self) -> None:
        """A freshly opened card: nothing asked, nothing waiting to be confirmed."""
        self.error = self.notice = self.confirm_id = self.confirm_reason = ""
        self.can_manage = has_permission(current().actor, Permission.HOLDS_MANAGE)

    @rx.event
    @guarded(Permission.HOLDS_MANAGE)
    async def place(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        data = _form(form_data)
        actor, case_id = current().actor, self._case_id()
        scope = str(data.get("scope", "case"))
        reason, ends_on = str(data.get("reason", "")), str(data.get("ends_on", ""))
        self.error = self.notice = ""
        if scope not in SCOPES:
            self.error = "Choose what to hold: this case or every case of this patient."
            return None

        def place() -> None:
            if scope == "patient":
                patient = legal_holds.patient_of_case(actor, case_id)
                legal_holds.place_hold(actor, patient_id=patient, reason=reason, ends_on=ends_on)
            else:
                legal_holds.place_hold(actor, case_id=case_id, reason=reason, ends_on=ends_on)

        try:
            await asyncio.to_thread(place)
        except NotFound:
            self.error = "This case was not found."
            return None
        except ValueError as exc:
            # What was typed stays in the fields, to be corrected.
            self.error = str(exc)
            return None
        self.notice = (
            "Legal hold placed on every case of this patient."
            if scope == "patient"
            else "Legal hold placed on this case."
        )
        await self._refresh()
        return [rx.set_value("hold-reason", ""), rx.set_value("hold-ends-on", "")]

    @rx.event
    @guarded(Permission.HOLDS_MANAGE)
    async def ask_release(self, form_data: dict[str, Any]) -> None:
        """The release form was sent: check the reason, then ask for confirmation."""
        data = _form(form_data)
        hold_id = str(data.get("hold_id", ""))[:64]
        self.error = self.notice = ""
        if not any(h["id"] == hold_id and h["active"] for h in self.holds):
            self.error = "That hold is no longer active here; the list has been refreshed."
            await self._refresh()
            return
        try:
            reason = legal_holds.clean_reason(data.get("reason", ""), "reason for the release")
        except ValueError as exc:
            self.error = str(exc)
            return
        self.confirm_id, self.confirm_reason = hold_id, reason

    @rx.event
    @guarded(Permission.HOLDS_MANAGE)
    async def cancel_release(self) -> None:
        self.confirm_id = self.confirm_reason = ""

    @rx.event
    @guarded(Permission.HOLDS_MANAGE)
    async def release(self) -> None:
        actor = current().actor
        hold_id, reason = self.confirm_id, self.confirm_reason
        self.confirm_id = self.confirm_reason = ""
        self.error = self.notice = ""
        try:
            await asyncio.to_thread(legal_holds.release_hold, actor, hold_id, reason=reason)
        except NotFound:
            self.error = "That hold was not found."
        except ValueError as exc:
            self.error = str(exc)
        else:
            self.notice = "Legal hold released."
        await self._refresh()
