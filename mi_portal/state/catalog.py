"""/settings/catalog: the clinic's treatment items, packages, tax classes and quote defaults.

The tab and the item filters are read from the URL (``?tab=items&show=all&category=Skin&page=2``) on
every navigation; forms keep what was typed when the service refuses it.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from mi_portal.services import catalog, catalog_csv
from mi_portal.services.actor import NotFound
from mi_portal.services.catalog import CatalogProblem
from mi_portal.services.permissions import Permission, page_access
from mi_portal.state.catalog_rows import (
    EMPTY_ITEM,
    EMPTY_PACKAGE,
    EMPTY_TAX,
    NO_TAX,
    SHOW,
    TABS,
    TEXT_LIMITS,
    field_for,
    item_view,
    package_view,
    tax_view,
)
from mi_portal.state.guard import current, guarded

MAX_IMPORT_ERRORS = 100
PAGE_SIZE = 100
_FORMS = {"item": EMPTY_ITEM, "tax": EMPTY_TAX, "package": EMPTY_PACKAGE}
_KINDS = {
    "item": (catalog.set_item_active, "items"),
    "tax": (catalog.set_tax_class_active, "taxes"),
    "package": (catalog.set_package_active, "packages"),
}


def url_for(tab: str, show: str = "active", category: str = "", page: int = 0) -> str:
    query = {"tab": tab}
    if tab == "items":
        if show != "active":
            query["show"] = show
        if category:
            query["category"] = category
        if page:
            query["page"] = str(page + 1)
    return "/settings/catalog?" + urlencode(query)


def _page_number(raw: object) -> int:
    text = str(raw or "1")
    return int(text) - 1 if text.isdigit() and 0 < int(text) <= 10_000 else 0


class CatalogState(rx.State):
    blocked: str = ""
    loading: bool = True
    tab: str = "items"
    show: str = "active"
    category: str = ""
    # Items are listed a page at a time (only that page is kept in the tab's state).
    page: int = 0
    item_total: int = 0
    categories: list[str] = []
    currency: str = "USD"
    notice: str = ""
    errors: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    taxes: list[dict[str, Any]] = []
    packages: list[dict[str, Any]] = []
    # Active tax classes and items, offered in the forms' selects.
    tax_options: list[dict[str, str]] = []
    item_options: list[dict[str, str]] = []
    # The form being edited: kind ("item", "tax", "package") and the row's id ("" for a new one).
    editing: str = ""
    form: dict[str, Any] = dict(EMPTY_ITEM)
    package_lines: list[dict[str, str]] = []
    defaults: dict[str, Any] = {}
    confirm_kind: str = ""
    confirm_id: str = ""
    confirm_name: str = ""
    import_errors: list[str] = []
    import_more: int = 0

    async def _fetch(self) -> None:
        actor = current().actor
        defaults = await asyncio.to_thread(catalog.get_defaults, actor)
        cur, loc = defaults.currency, defaults.locale
        self.currency = cur
        taxes = await asyncio.to_thread(catalog.list_tax_classes, actor)
        self.taxes = [tax_view(t) for t in taxes]
        # Inactive ones are listed (marked) so an item keeping one still shows it.
        self.tax_options = [
            {
                "id": t["id"],
                "label": f"{t['name']} ({t['rate_text']})" + ("" if t["active"] else ", inactive"),
            }
            for t in self.taxes
        ]
        show = {"active": True, "inactive": False}.get(self.show)
        rows = await asyncio.to_thread(
            functools.partial(
                catalog.list_items, actor, active=show, category=self.category or None
            )
        )
        self.item_total = len(rows)
        self.page = min(self.page, max(0, (len(rows) - 1) // PAGE_SIZE))
        first = self.page * PAGE_SIZE
        self.items = [item_view(i, cur, loc) for i in rows[first : first + PAGE_SIZE]]
        everything = await asyncio.to_thread(catalog.list_items, actor, active=True)
        self.item_options = [{"id": i.id, "name": i.name} for i in everything]
        self.categories = await asyncio.to_thread(catalog.categories, actor)
        packages = await asyncio.to_thread(catalog.list_packages, actor)
        self.packages = [package_view(p, cur, loc) for p in packages]
        self.defaults = {**asdict(defaults), "quote_valid_days": str(defaults.quote_valid_days)}
        self.loading = False

    def _reset_form(self) -> None:
        kind = {"items": "item", "taxes": "tax", "packages": "package"}.get(self.tab, "")
        self.editing, self.errors = "", {}
        self.form = dict(_FORMS.get(kind, EMPTY_ITEM))
        self.package_lines = []

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        signed = current()
        blocked = page_access(
            signed.actor, Permission.CATALOG_MANAGE, has_memberships=bool(signed.memberships)
        )
        self.import_errors, self.import_more = [], 0
        self.confirm_kind = self.confirm_id = self.confirm_name = ""
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked, self.items, self.taxes, self.packages = blocked, [], [], []
            return None
        self.blocked = ""
        query = self.router.url.query_parameters
        tab, show = str(query.get("tab", "items")), str(query.get("show", "active"))
        self.tab = tab if tab in TABS else "items"
        self.show = show if show in SHOW else "active"
        self.category = str(query.get("category", ""))[:80]
        self.page = _page_number(query.get("page"))
        self._reset_form()
        await self._fetch()
        if self.category and self.category not in self.categories:
            return rx.redirect(url_for("items", self.show), replace=True)
        return None

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def filter_items(self, key: str, value: str):  # type: ignore[no-untyped-def]
        """A filter changed: go to the URL of the list it asks for."""
        show, category = self.show, self.category
        if key == "show" and value in SHOW:
            show = value
        elif key == "category" and isinstance(value, str):
            category = "" if value == "all" else value[:80]
        return rx.redirect(url_for("items", show, category))

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def turn_page(self, step: int):  # type: ignore[no-untyped-def]
        if not isinstance(step, int) or step not in (-1, 1):
            return None
        return rx.redirect(url_for("items", self.show, self.category, max(0, self.page + step)))

    @rx.var
    def page_label(self) -> str:
        if self.item_total <= PAGE_SIZE:
            return ""
        first = self.page * PAGE_SIZE + 1
        last = min(self.item_total, first + PAGE_SIZE - 1)
        return f"{first}–{last} of {self.item_total}"

    @rx.var
    def has_next(self) -> bool:
        return (self.page + 1) * PAGE_SIZE < self.item_total

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def set_field(self, key: str, value: Any) -> None:
        if key == "price_from" and isinstance(value, bool):
            self.form = {**self.form, key: value}
        elif key == "tax_class_id" and isinstance(value, str):
            self.form = {**self.form, key: value[:40]}
        elif key in TEXT_LIMITS and key in self.form and isinstance(value, str):
            self.form = {**self.form, key: value[: TEXT_LIMITS[key] + 100]}

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def set_default(self, key: str, value: Any) -> None:
        if key in ("currency", "locale", "quote_valid_days", "quote_terms") and isinstance(
            value, str
        ):
            self.defaults = {**self.defaults, key: value[: TEXT_LIMITS[key] + 100]}

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def edit(self, kind: str, row_id: str) -> None:
        rows = {"item": self.items, "tax": self.taxes, "package": self.packages}.get(kind)
        found = next((r for r in rows or [] if r["id"] == row_id), None)
        if found is None:
            return
        self.editing = f"{kind}:{found['id']}"
        self.form = {k: found[k] for k in _FORMS[kind]}
        self.package_lines = [dict(line) for line in found.get("lines", [])]
        self.errors, self.notice = {}, ""

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def new(self) -> None:
        self._reset_form()
        self.notice = ""

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def add_line(self, item_id: str) -> None:
        found = next((i for i in self.item_options if i["id"] == item_id), None)
        if found is None or any(line["item_id"] == item_id for line in self.package_lines):
            return
        line = {"item_id": found["id"], "name": found["name"], "quantity": "1"}
        self.package_lines = [*self.package_lines, line][:50]

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def set_quantity(self, index: int, value: str) -> None:
        if isinstance(index, int) and 0 <= index < len(self.package_lines):
            lines = [dict(line) for line in self.package_lines]
            lines[index]["quantity"] = str(value)[:4]
            self.package_lines = lines

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def remove_line(self, index: int) -> None:
        if isinstance(index, int) and 0 <= index < len(self.package_lines):
            self.package_lines = [x for i, x in enumerate(self.package_lines) if i != index]

    async def _run(self, fn: Any, **kwargs: Any) -> Any:
        """Call a service; a refusal lands under its field and the form keeps what was typed."""
        try:
            return await asyncio.to_thread(functools.partial(fn, current().actor, **kwargs))
        except CatalogProblem as problem:
            self.errors = {field_for(problem.field): str(problem)}
        except NotFound:
            self.errors = {"form": "That entry was not found. It may have been removed."}
        return None

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def save(self) -> None:
        self.errors, self.notice = {}, ""
        kind, _, row_id = self.editing.partition(":")
        kind = kind or {"taxes": "tax", "packages": "package"}.get(self.tab, "item")
        f = self.form
        tax_id = "" if f.get("tax_class_id") in (NO_TAX, None) else f.get("tax_class_id")
        if kind == "tax":
            saved = await self._run(
                catalog.save_tax_class,
                tax_class_id=row_id or None,
                name=f.get("name", ""),
                rate=f.get("rate", ""),
            )
        elif kind == "package":
            saved = await self._run(
                catalog.save_package,
                package_id=row_id or None,
                name=f.get("name", ""),
                description=f.get("description", ""),
                price=f.get("price", ""),
                tax_class_id=tax_id,
                items=[
                    {"item_id": line["item_id"], "quantity": line["quantity"]}
                    for line in self.package_lines
                ],
            )
        else:
            saved = await self._run(
                catalog.save_item,
                item_id=row_id or None,
                name=f.get("name", ""),
                description=f.get("description", ""),
                category=f.get("category", ""),
                unit_label=f.get("unit_label", ""),
                unit_price=f.get("unit_price", ""),
                price_from=f.get("price_from") is True,
                tax_class_id=tax_id,
            )
        if saved is not None:
            name = str(f.get("name", "")).strip()[:200]
            await self._fetch()
            self._reset_form()
            self.notice = f"Saved “{name}”."

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def save_defaults(self) -> None:
        self.errors, self.notice = {}, ""
        d = self.defaults
        saved = await self._run(
            catalog.save_defaults,
            currency=d.get("currency", ""),
            locale=d.get("locale", ""),
            quote_valid_days=d.get("quote_valid_days", ""),
            quote_terms=d.get("quote_terms", ""),
        )
        if saved is None:
            return
        await self._fetch()
        self.notice = "Quote defaults saved."
        if saved.currency_changed and saved.items_in_new_currency:
            self.notice += (
                f" {saved.items_in_new_currency} items are now priced in {self.currency};"
                " their amounts were not converted: check them."
            )

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def ask_deactivate(self, kind: str, row_id: str) -> None:
        rows = {"item": self.items, "tax": self.taxes, "package": self.packages}.get(kind)
        found = next((r for r in rows or [] if r["id"] == row_id), None)
        if found is not None:
            self.confirm_kind, self.confirm_id, self.confirm_name = kind, found["id"], found["name"]

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def cancel_deactivate(self) -> None:
        self.confirm_kind = self.confirm_id = self.confirm_name = ""

    async def _set_active(self, kind: str, row_id: str, active: bool) -> None:
        self.errors, self.notice = {}, ""
        if kind not in _KINDS or not row_id:
            return
        fn, _tab = _KINDS[kind]
        try:
            await asyncio.to_thread(fn, current().actor, row_id, active)
        except NotFound:
            self.errors = {"form": "That entry was not found. It may have been removed."}
            return
        await self._fetch()
        self.notice = "Reactivated." if active else "Deactivated."

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def deactivate(self) -> None:
        kind, row_id = self.confirm_kind, self.confirm_id
        self.confirm_kind = self.confirm_id = self.confirm_name = ""
        await self._set_active(kind, row_id, False)

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def reactivate(self, kind: str, row_id: str) -> None:
        await self._set_active(str(kind), str(row_id), True)

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def import_csv(self, files: list[rx.UploadFile]) -> None:
        self.import_errors, self.import_more, self.notice, self.errors = [], 0, "", {}
        chosen = list(files) if isinstance(files, list) else []
        if not chosen:
            return
        data = await chosen[0].read(catalog_csv.MAX_BYTES + 1)
        result = await asyncio.to_thread(catalog_csv.import_csv, current().actor, data)
        if result.errors:
            self.import_errors = result.errors[:MAX_IMPORT_ERRORS]
            self.import_more = max(0, len(result.errors) - MAX_IMPORT_ERRORS)
            return
        await self._fetch()
        self.notice = f"Imported: {result.created} new items, {result.updated} updated."

    @rx.event
    @guarded(Permission.CATALOG_MANAGE)
    async def export_csv(self):  # type: ignore[no-untyped-def]
        data = await asyncio.to_thread(catalog_csv.export_csv, current().actor)
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        return rx.download(data=data, filename=f"catalog-{stamp}.csv")
