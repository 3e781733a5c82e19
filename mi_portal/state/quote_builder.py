"""The quote builder page: a case's quote versions, and its draft saved as staff type.

The case id comes from the URL, and so does the version read (``?v=<n>``); quote ids are only
looked up through the tenant-scoped services, so another clinic's ids answer like missing ones.
The draft's id stays on the server; the browser only holds the form as typed.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from typing import Any

import reflex as rx

from mi_portal.services import quote_forms, quote_pdf, quotes
from mi_portal.services.actor import NotFound
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.services.quotes import QuoteProblem
from mi_portal.state.guard import current, guarded

KIND_CHOICES = {"none": "", "amount": "amount", "percent": "percent"}
NO_TAX = "none"


def _empty_form() -> dict[str, Any]:
    return {name: "" for name in quote_forms.QUOTE_FIELDS} | {"lines": []}


class QuoteBuilderState(rx.State):
    case_id: str = ""
    reference: str = ""
    case_status: str = ""
    not_found: bool = False
    loading: bool = True
    may_edit: bool = False
    may_send: bool = False
    may_revise: bool = False
    sms_possible: bool = False
    taxes: list[dict[str, str]] = []
    catalog: list[dict[str, str]] = []
    versions: list[dict[str, Any]] = []
    # "empty" (no quote yet), "draft" (the editor) or "document" (one version, read-only).
    mode: str = "empty"
    # The draft: its version, the form as typed, field errors and the live amounts.
    draft_version: int = 0
    form: dict[str, Any] = _empty_form()
    errors: dict[str, str] = {}
    line_amounts: list[str] = []
    amounts: dict[str, str] = {}
    saved_at: str = ""
    saving: bool = False
    # The version read when not editing (the latest sent one, or the one named by ?v=<n>).
    shown: dict[str, Any] = {}
    version_missing: bool = False
    # The PDF of the version shown: filled from quote_pdf.staff_link once that service lands;
    # the link stays hidden while this is "".
    send_open: bool = False
    send_sms: bool = True
    withdraw_open: bool = False
    discard_open: bool = False
    error: str = ""
    notice: str = ""
    _draft_id: str = ""
    _shown_id: str = ""
    _latest_id: str = ""

    # --- what the page shows ----------------------------------------------------------------

    @rx.var
    def heading(self) -> str:
        return f"Quote for case {self.reference}" if self.reference else "Quote"

    @rx.var
    def lines_view(self) -> list[dict[str, str]]:
        """Each line as typed, with its errors (``err_<field>``) and its amount beside it."""
        rows = []
        lines = self.form.get("lines") or []
        for i, line in enumerate(lines):
            row = {k: str(line.get(k, "")) for k in quote_forms.LINE_FIELDS}
            row["index"] = str(i)
            row["number"] = str(i + 1)
            row["last"] = "yes" if i == len(lines) - 1 else ""
            row["discount_kind"] = row["discount_kind"] or "none"
            row["tax_class"] = row["tax_class"] or NO_TAX
            row["amount"] = self.line_amounts[i] if i < len(self.line_amounts) else ""
            for name in quote_forms.LINE_FIELDS:
                row[f"err_{name}"] = self.errors.get(f"lines.{i}.{name}", "")
            rows.append(row)
        return rows

    @rx.var
    def quote_form(self) -> dict[str, str]:
        """The quote's own fields as typed, with ``err_<field>`` beside each."""
        out = {k: str(self.form.get(k, "")) for k in quote_forms.QUOTE_FIELDS}
        out["discount_kind"] = out["discount_kind"] or "none"
        out["deposit_kind"] = out["deposit_kind"] or "none"
        for name in (*quote_forms.QUOTE_FIELDS, "lines"):
            out[f"err_{name}"] = self.errors.get(name, "")
        return out

    @rx.var
    def error_count(self) -> int:
        return len(self.errors)

    @rx.var
    def may_withdraw(self) -> bool:
        return (
            self.may_send
            and self.mode == "document"
            and self.shown.get("status", "") in ("sent", "viewed")
        )

    # --- loading ----------------------------------------------------------------------------

    def _case_id(self) -> str:
        return str(getattr(self, "id", "") or "")[:64]  # route argument

    def _wanted_version(self) -> int | None:
        raw = str(self.router.url.query_parameters.get("v", "")).strip()
        return int(raw) if raw.isdigit() and len(raw) < 6 else (-1 if raw else None)

    def _forget(self) -> None:
        self.case_id = self.reference = self.case_status = ""
        self.versions, self.taxes, self.catalog, self.shown = [], [], [], {}
        self.form, self.errors, self.line_amounts, self.amounts = _empty_form(), {}, [], {}
        self.mode, self.draft_version, self.saved_at = "empty", 0, ""
        self.may_edit = self.may_send = self.may_revise = self.sms_possible = False
        self._draft_id = self._shown_id = self._latest_id = ""

    def _take_draft(self, draft: quotes.DraftResult) -> None:
        self._draft_id, self.draft_version = draft.quote_id, draft.version
        self.errors = dict(draft.errors)
        self.line_amounts, self.amounts = list(draft.line_amounts), dict(draft.amounts)
        self.saved_at = draft.saved_at

    async def _refresh(self) -> None:
        actor = current().actor
        wanted = self._wanted_version()
        try:
            view = await asyncio.to_thread(quotes.builder, actor, self._case_id())
        except NotFound:
            self._forget()
            self.not_found, self.loading = True, False
            return
        self.not_found = False
        self.case_id = view.case_id
        self.reference, self.case_status = view.reference, view.case_status
        self.may_edit, self.may_send = view.may_edit, view.may_send
        self.may_revise = view.may_revise and view.may_edit
        self.sms_possible, self.taxes = view.sms_possible, list(view.taxes)
        self.versions = [asdict(v) for v in view.versions]
        self._latest_id = view.latest.id if view.latest else ""
        if view.draft is not None:
            self._take_draft(view.draft)
            self.form = quote_forms.normal_form(view.draft.form)
        else:
            self._draft_id, self.draft_version, self.saved_at = "", 0, ""
            self.form, self.errors, self.line_amounts, self.amounts = _empty_form(), {}, [], {}
        found = next((v for v in view.versions if v.version == wanted), None)
        self.version_missing = wanted is not None and found is None
        if found is not None and found.id != self._draft_id:
            doc = await asyncio.to_thread(quotes.document, actor, found.id)
            self.mode, self.shown, self._shown_id = "document", asdict(doc), doc.id
        elif view.draft is not None and (found is None or found.id == self._draft_id):
            self.mode, self.shown, self._shown_id = "draft", {}, ""
        elif view.latest is not None:
            self.mode, self.shown, self._shown_id = "document", asdict(view.latest), view.latest.id
        else:
            self.mode, self.shown, self._shown_id = "empty", {}, ""
        self.catalog = (
            await asyncio.to_thread(quotes.catalog_choices, actor)
            if self.mode == "draft" and has_permission(actor, Permission.QUOTES_EDIT)
            else []
        )
        self.loading = False

    @rx.event
    @guarded(Permission.CASES_VIEW, page=True)
    async def load(self) -> None:
        self.loading, self.error, self.notice = True, "", ""
        self.send_open = self.withdraw_open = self.discard_open = self.saving = False
        await self._refresh()

    async def _act(self, action: Any) -> bool:
        """Run a service call; its refusal becomes the page's error, then reload."""
        self.error, self.notice = "", ""
        ok = False
        try:
            await asyncio.to_thread(action)
            ok = True
        except NotFound:
            self.error = "That quote or case was not found."
        except ValueError as exc:  # QuoteProblem and the services' other refusals
            self.error = str(exc)
        await self._refresh()
        return ok

    def _address(self) -> str:
        return f"/cases/{self._case_id()}/quote"

    # --- starting, revising, discarding -----------------------------------------------------

    @rx.event
    @guarded(Permission.QUOTES_EDIT)
    async def start(self):  # type: ignore[no-untyped-def]
        """A new draft: the first version, or the next one copying the last (revise)."""
        actor, case_id = current().actor, self._case_id()
        started = await self._act(lambda: quotes.start(actor, case_id))
        # The draft is what the page shows by default: drop any ?v= from the address.
        if started and self._wanted_version() is not None:
            return rx.redirect(self._address())
        return None

    @rx.event
    @guarded(Permission.QUOTES_EDIT)
    async def ask_discard(self) -> None:
        self.discard_open = bool(self._draft_id)

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def close_dialogs(self) -> None:
        self.discard_open = self.withdraw_open = self.send_open = False

    @rx.event
    @guarded(Permission.QUOTES_EDIT)
    async def discard(self):  # type: ignore[no-untyped-def]
        self.discard_open = False
        actor, quote_id = current().actor, self._draft_id
        if not quote_id:
            return None
        if await self._act(lambda: quotes.discard(actor, quote_id)):
            self.notice = "The draft was discarded."
            if self._wanted_version() is not None:
                return rx.redirect(self._address())
        return None

    # --- editing the draft (each change is saved) -------------------------------------------

    async def _save(self) -> None:
        actor, quote_id = current().actor, self._draft_id
        if not quote_id:
            self.saving = False
            return
        self.error = ""
        try:
            result = await asyncio.to_thread(quotes.save_draft, actor, quote_id, self.form)
        except NotFound:
            self.error = "This draft no longer exists; reload the page."
        except QuoteProblem as exc:
            self.error = str(exc)
        else:
            self._take_draft(result)
        self.saving = False

    def _edit(self, form: dict[str, Any]) -> Any:
        """Keep the change as typed and save it in a next event (so "Saving…" shows first)."""
        self.form = quote_forms.normal_form(form)
        self.saving = True
        return QuoteBuilderState.save

    @rx.event
    @guarded(Permission.QUOTES_EDIT)
    async def save(self) -> None:
        await self._save()

    @rx.event
    @guarded(Permission.QUOTES_EDIT)
    async def set_line(self, index: int, key: str, value: str):  # type: ignore[no-untyped-def]
        lines = [dict(line) for line in self.form.get("lines") or []]
        try:
            i = int(index)
        except (TypeError, ValueError):
            return None
        if not self._draft_id or not 0 <= i < len(lines) or key not in quote_forms.LINE_FIELDS:
            return None
        text = value if isinstance(value, str) else ""
        if key == "discount_kind":
            text = KIND_CHOICES.get(text, "")
        elif key == "tax_class" and text == NO_TAX:
            text = ""
        lines[i][key] = text
        if key == "discount_kind" and not text:
            lines[i]["discount_value"] = ""
        return self._edit({**self.form, "lines": lines})

    @rx.event
    @guarded(Permission.QUOTES_EDIT)
    async def set_field(self, key: str, value: str):  # type: ignore[no-untyped-def]
        if not self._draft_id or key not in quote_forms.QUOTE_FIELDS:
            return None
        text = value if isinstance(value, str) else ""
        if key in ("discount_kind", "deposit_kind"):
            text = KIND_CHOICES.get(text, "")
        form = {**self.form, key: text}
        if key in ("discount_kind", "deposit_kind") and not text:
            form[key.replace("kind", "value")] = ""
        return self._edit(form)

    @rx.event
    @guarded(Permission.QUOTES_EDIT)
    async def add_line(self, key: str):  # type: ignore[no-untyped-def]
        """A line from the catalog (``item:<id>``/``package:<id>``), or free text ("free")."""
        if not self._draft_id:
            return None
        line = quote_forms.empty_line()
        if key != "free":
            choice = next((c for c in self.catalog if c["key"] == key), None)
            if choice is None:
                return None
            if choice.get("price_from"):
                self.notice = f"“{choice['name']}” has a starting price: set the final price."
            line.update(
                {
                    choice["kind"]: choice["id"],
                    "description": choice["description"],
                    "unit_label": choice["unit_label"],
                    "unit_price": choice["price"],
                    "tax_class": choice["tax_class"],
                }
            )
        return self._edit({**self.form, "lines": [*(self.form.get("lines") or []), line]})

    @rx.event
    @guarded(Permission.QUOTES_EDIT)
    async def remove_line(self, index: int):  # type: ignore[no-untyped-def]
        lines = list(self.form.get("lines") or [])
        try:
            i = int(index)
        except (TypeError, ValueError):
            return None
        if not self._draft_id or not 0 <= i < len(lines):
            return None
        del lines[i]
        return self._edit({**self.form, "lines": lines})

    @rx.event
    @guarded(Permission.QUOTES_EDIT)
    async def move_line(self, index: int, step: int):  # type: ignore[no-untyped-def]
        lines = list(self.form.get("lines") or [])
        try:
            i, j = int(index), int(index) + (1 if int(step) > 0 else -1)
        except (TypeError, ValueError):
            return None
        if not self._draft_id or not (0 <= i < len(lines) and 0 <= j < len(lines)):
            return None
        lines[i], lines[j] = lines[j], lines[i]
        return self._edit({**self.form, "lines": lines})

    # --- sending and withdrawing ------------------------------------------------------------

    @rx.event
    @guarded(Permission.QUOTES_SEND)
    async def ask_send(self) -> None:
        self.error = ""
        if not self._draft_id:
            return
        if self.errors:
            self.error = "Correct the marked fields before sending."
            return
        self.send_open, self.send_sms = True, self.sms_possible

    @rx.event
    @guarded(Permission.QUOTES_SEND)
    async def set_send_sms(self, value: bool) -> None:
        self.send_sms = value is True and self.sms_possible

    @rx.event
    @guarded(Permission.QUOTES_SEND)
    async def send(self) -> None:
        self.send_open = False
        actor, quote_id = current().actor, self._draft_id
        if not quote_id:
            return
        sms = self.send_sms and self.sms_possible
        version = self.draft_version
        if await self._act(functools.partial(quotes.send, actor, quote_id, sms=sms)):
            self.notice = f"Version {version} was sent to the patient."

    @rx.event
    @guarded(Permission.QUOTES_SEND)
    async def ask_withdraw(self) -> None:
        self.withdraw_open = self.may_withdraw

    @rx.event
    @guarded(Permission.QUOTES_SEND)
    async def withdraw(self) -> None:
        self.withdraw_open = False
        actor, quote_id = current().actor, self._shown_id
        if not quote_id:
            return
        version = self.shown.get("version", "")
        if await self._act(lambda: quotes.withdraw(actor, quote_id)):
            self.notice = f"Version {version} was withdrawn."

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def download_pdf(self):  # type: ignore[no-untyped-def]
        """The shown version's PDF: a five-minute link for this sign-in session, made on click."""
        actor, quote_id = current().actor, self._shown_id
        if not quote_id:
            return None
        try:
            url = await asyncio.to_thread(quote_pdf.staff_link, actor, quote_id)
        except NotFound:
            self.error = "That version could not be found. Reload the page."
            return None
        version = self.shown.get("version", "")
        reference = "".join(c for c in self.reference if c.isascii() and c.isalnum())
        return rx.download(url=url, filename=f"quote-{reference}-v{version}.pdf")
