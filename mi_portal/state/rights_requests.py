"""/privacy/requests and /privacy/requests/[reference]: the platform's work list of privacy-rights
requests and one request with its timeline and actions.

The list's filters live in the address (``?status=&kind=&unverified=1``) and are links; the
detail is chosen by its reference in the path. Every action waits for a confirmation dialog.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.services import rights
from mi_portal.services.actor import NotFound
from mi_portal.services.permissions import Permission, page_access
from mi_portal.state.guard import current, guarded

ACTIONS = ("forward", "no_data", "extend", "deny", "withdraw")
NEEDS_TEXT = {"extend": "reason", "deny": "reason", "withdraw": "note"}
LIST_STATUSES = ("open", "closed", "all")


def _gate() -> str:
    signed = current()
    return page_access(
        signed.actor, Permission.RIGHTS_FORWARD, has_memberships=bool(signed.memberships)
    )


def _row(row: rights.RequestRow) -> dict[str, Any]:
    view = asdict(row)
    view["clinic_names"] = ", ".join(c.name for c in row.clinics) or "None"
    return view


class RightsWorkListState(rx.State):
    blocked: str = ""
    loading: bool = True
    rows: list[dict[str, Any]] = []
    status: str = "open"
    kind: str = ""
    unverified: bool = False
    error: str = ""

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.rows, self.error = [], ""
        blocked = _gate()
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked = blocked
            return None
        self.blocked = ""
        query = self.router.url.query_parameters
        status = str(query.get("status", "open"))
        kind = str(query.get("kind", ""))
        self.status = status if status in LIST_STATUSES else "open"
        self.kind = kind if kind in rights.KIND_LABELS else ""
        self.unverified = str(query.get("unverified", "")) == "1"
        rows = await asyncio.to_thread(
            functools.partial(
                rights.work_list,
                current().actor,
                status=self.status,
                kind=self.kind,
                include_unverified=self.unverified,
            )
        )
        self.rows = [_row(r) for r in rows]
        self.loading = False
        return None


class RightsWorkItemState(rx.State):
    blocked: str = ""
    loading: bool = True
    missing: bool = False
    request: dict[str, Any] = {}
    clinics: list[dict[str, str]] = []
    timeline: list[dict[str, str]] = []
    error: str = ""
    notice: str = ""
    # The action waiting for confirmation, and the reason or note typed for it.
    confirming: str = ""
    text: str = ""
    dialog_error: str = ""

    def _reference(self) -> str:
        return str(self.reference)[:64]  # type: ignore[attr-defined]  (route argument)

    async def _fetch(self) -> None:
        try:
            found = await asyncio.to_thread(rights.detail, current().actor, self._reference())
        except NotFound:
            self.missing, self.request, self.clinics, self.timeline = True, {}, [], []
            return
        self.missing = False
        view = asdict(found)
        row = view.pop("row")
        self.clinics = [{k: str(v) for k, v in c.items()} for c in row.pop("clinics")]
        self.timeline = [{k: str(v) for k, v in s.items()} for s in view.pop("timeline")]
        self.request = {**row, **view}

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.error = self.notice = self.confirming = self.text = self.dialog_error = ""
        blocked = _gate()
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked, self.request = blocked, {}
            return None
        self.blocked = ""
        await self._fetch()
        self.loading = False
        return None

    @rx.event
    @guarded(Permission.RIGHTS_FORWARD)
    async def ask(self, action: str) -> None:
        self.error = self.notice = self.dialog_error = self.text = ""
        allowed = {
            "forward": "can_forward",
            "no_data": "can_close_no_data",
            "extend": "can_extend",
            "deny": "can_deny",
            "withdraw": "can_withdraw",
        }
        if action in allowed and self.request.get(allowed[action]):
            self.confirming = action

    @rx.event
    @guarded(Permission.RIGHTS_FORWARD)
    async def set_text(self, value: str) -> None:
        self.text = value[:1000] if isinstance(value, str) else ""

    @rx.event
    @guarded(Permission.RIGHTS_FORWARD)
    async def cancel(self) -> None:
        self.confirming = self.dialog_error = ""

    @rx.event
    @guarded(Permission.RIGHTS_FORWARD)
    async def confirm(self) -> None:
        action, actor, reference = self.confirming, current().actor, self._reference()
        if action not in ACTIONS:
            return
        self.dialog_error = ""
        try:
            if action == "forward":
                count = await asyncio.to_thread(rights.forward, actor, reference)
                notice = f"Forwarded to {count} clinic{'s' if count != 1 else ''}."
            elif action == "no_data":
                await asyncio.to_thread(rights.close_no_data, actor, reference)
                notice = "Closed: no data held. The requester has been told."
            elif action == "extend":
                new = await asyncio.to_thread(rights.extend, actor, reference, self.text)
                notice = f"Deadline extended to {new.isoformat()}. The requester has been told."
            elif action == "deny":
                await asyncio.to_thread(rights.deny, actor, reference, self.text)
                notice = "Request denied. The requester has been told why."
            else:
                await asyncio.to_thread(rights.withdraw, actor, reference, self.text)
                notice = "Request marked as withdrawn."
        except NotFound:
            self.confirming, self.error = "", "This request was not found."
            return
        except ValueError as exc:
            if action in NEEDS_TEXT:
                self.dialog_error = str(exc)  # the dialog stays open with what was typed
                return
            self.confirming, self.error = "", str(exc)
            await self._fetch()
            return
        self.confirming, self.text, self.notice = "", "", notice
        await self._fetch()
