"""/privacy/forwarded and /privacy/forwarded/[id]: the requests the platform forwarded to this
clinic, and one of them with the clinic's own matching patients and the answers it allows.

Only the clinic's own rows are ever read (the services run in its session). Each answer waits
for a confirmation; erasure also asks for the request's reference to be typed.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.services import rights_access, rights_clinic
from mi_portal.services.actor import NotFound
from mi_portal.services.permissions import Permission, page_access
from mi_portal.services.phones import InvalidPhone
from mi_portal.services.rights_summary import CATEGORY_TEXT
from mi_portal.state.guard import current, guarded

# What each kind of request may be answered with (besides a denial, which any kind allows).
ACTIONS = ("deny", "opt_out", "limit", "complete", "erase", "send")
NEEDS_TEXT = {"deny": "reason", "complete": "note"}
LIST_STATUSES = ("open", "closed", "all")


def _gate() -> str:
    signed = current()
    return page_access(
        signed.actor, Permission.RIGHTS_ANSWER, has_memberships=bool(signed.memberships)
    )


class ForwardedListState(rx.State):
    blocked: str = ""
    loading: bool = True
    rows: list[dict[str, str]] = []
    status: str = "open"

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.rows = []
        blocked = _gate()
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked = blocked
            return None
        self.blocked = ""
        status = str(self.router.url.query_parameters.get("status", "open"))
        self.status = status if status in LIST_STATUSES else "open"
        rows = await asyncio.to_thread(rights_clinic.forwarded_list, current().actor, self.status)
        self.rows = [{k: str(v) for k, v in asdict(r).items()} for r in rows]
        self.loading = False
        return None


class ForwardState(rx.State):
    blocked: str = ""
    loading: bool = True
    missing: bool = False
    forward: dict[str, Any] = {}
    patients: list[dict[str, Any]] = []
    kept: list[dict[str, str]] = []
    preview: dict[str, Any] = {}
    error: str = ""
    notice: str = ""
    confirming: str = ""
    text: str = ""
    typed: str = ""
    dialog_error: str = ""
    # The correction form: which patient, and the error of the last try (per field).
    correction_error: str = ""

    def _forward_id(self) -> str:
        return str(self.id)[:64]  # type: ignore[attr-defined]  (route argument)

    async def _fetch(self) -> None:
        try:
            found = await asyncio.to_thread(
                rights_clinic.forward_detail, current().actor, self._forward_id()
            )
        except NotFound:
            self.missing, self.forward, self.patients = True, {}, []
            return
        self.missing = False
        view = asdict(found)
        row = view.pop("row")
        self.patients = view.pop("patients")
        view.pop("result")
        self.forward = {**row, **view}

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.error = self.notice = self.confirming = self.text = self.typed = ""
        self.dialog_error = self.correction_error = ""
        self.kept, self.preview = [], {}
        blocked = _gate()
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked, self.forward, self.patients = blocked, {}, []
            return None
        self.blocked = ""
        await self._fetch()
        self.loading = False
        return None

    @rx.event
    @guarded(Permission.RIGHTS_ANSWER)
    async def begin(self) -> None:
        self.error = self.notice = ""
        try:
            await asyncio.to_thread(rights_clinic.start, current().actor, self._forward_id())
        except NotFound:
            self.error = "This request was not found."
        await self._fetch()

    @rx.event
    @guarded(Permission.RIGHTS_ANSWER)
    async def ask(self, action: str) -> None:
        self.error = self.notice = self.dialog_error = self.text = self.typed = ""
        if action in ACTIONS and self.forward.get("is_open"):
            self.confirming = action

    @rx.event
    @guarded(Permission.RIGHTS_ANSWER)
    async def set_text(self, value: str) -> None:
        self.text = value[:1000] if isinstance(value, str) else ""

    @rx.event
    @guarded(Permission.RIGHTS_ANSWER)
    async def set_typed(self, value: str) -> None:
        self.typed = value[:32] if isinstance(value, str) else ""

    @rx.event
    @guarded(Permission.RIGHTS_ANSWER)
    async def cancel(self) -> None:
        self.confirming = self.dialog_error = ""

    @rx.event
    @guarded(Permission.RIGHTS_ANSWER)
    async def confirm(self) -> None:
        action, actor, forward_id = self.confirming, current().actor, self._forward_id()
        if action not in ACTIONS:
            return
        self.dialog_error = ""
        try:
            notice = await self._run(action, actor, forward_id)
        except NotFound:
            self.confirming, self.error = "", "This request was not found."
            return
        except ValueError as exc:
            if action in NEEDS_TEXT or action == "erase":
                self.dialog_error = str(exc)  # the dialog stays open with what was typed
                return
            self.confirming, self.error = "", str(exc)
            await self._fetch()
            return
        self.confirming, self.text, self.typed = "", "", ""
        if notice:
            self.notice = notice
        await self._fetch()

    async def _run(self, action: str, actor: Any, forward_id: str) -> str:
        if action == "deny":
            await asyncio.to_thread(rights_clinic.deny_forward, actor, forward_id, self.text)
            return "Request denied. The requester has been told why."
        if action == "complete":
            note = self.text
            await asyncio.to_thread(
                functools.partial(
                    rights_clinic.finish, actor, forward_id, status="completed", note=note,
                    result={"answered": True},
                )
            )  # fmt: skip
            return "Answered. The requester has been told."
        if action in ("opt_out", "limit"):
            run = rights_clinic.opt_out if action == "opt_out" else rights_clinic.limit
            count = await asyncio.to_thread(run, actor, forward_id)
            return f"Recorded for {count} patient{'s' if count != 1 else ''}; marketing stopped."
        if action == "erase":
            if self.typed.strip().upper() != str(self.forward.get("reference", "")).upper():
                raise ValueError("Type the request's reference exactly to confirm.")
            result = await asyncio.to_thread(rights_clinic.erase, actor, forward_id)
            self.kept = [{"case": str(c), "reason": str(r)} for c, r in result.kept]
            return "Erased through retention; what is kept is listed below."
        await asyncio.to_thread(rights_clinic.send_access, actor, forward_id)
        return "The access package link has been sent to the requester."

    @rx.event
    @guarded(Permission.RIGHTS_ANSWER)
    async def prepare(self) -> None:
        self.error = self.notice = ""
        try:
            found = await asyncio.to_thread(
                rights_access.prepare_package, current().actor, self._forward_id()
            )
        except NotFound:
            self.error = "This request was not found."
            return
        except ValueError as exc:
            self.error = str(exc)
            return
        self.preview = {
            # The same names the requester's summary uses, not the files' internal keys.
            "counts": sorted(
                f"{CATEGORY_TEXT.get(k, (k, ''))[0]}: {v} record{'s' if v != 1 else ''}"
                for k, v in found.counts.items()
            ),
            "files": len(found.files),
            "size": f"{found.size / 1024:.0f} KB",
            "patients": str(found.patients),
            "summary": found.summary_html,  # escaped on the server
        }
        self.notice = "Package prepared: check the preview, then send it."
        await self._fetch()

    @rx.event
    @guarded(Permission.RIGHTS_ANSWER)
    async def correct(self, form_data: dict[str, Any]) -> None:
        data = form_data if isinstance(form_data, dict) else {}
        self.error = self.notice = self.correction_error = ""
        patient_id = str(data.get("patient_id", ""))[:64]
        changes = {
            k: str(data[k])[:300]
            for k in rights_clinic.CORRECTABLE
            if k in data and str(data[k]).strip() != ""
        }
        if "phone" in data and str(data["phone"]).strip() == "":
            changes.pop("phone", None)
        try:
            changed = await asyncio.to_thread(
                rights_clinic.correct, current().actor, self._forward_id(), patient_id, changes
            )
        except NotFound:
            self.correction_error = "That patient is not part of this request."
            return
        except (ValueError, InvalidPhone) as exc:
            self.correction_error = str(exc)  # what was typed stays in the form
            return
        labels = [rights_clinic.FIELD_LABELS[c].lower() for c in changed]
        self.notice = ("Corrected: " + ", ".join(labels) + ".") if labels else "Nothing changed."
        await self._fetch()
