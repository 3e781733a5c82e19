"""The /messages page: one page of the clinic's conversations; the URL holds the view.

As on the queue, a text search (a name or an email address) never goes into the address: the
URL carries an opaque per-tab handle (``?q=…``); a case reference stays in clear (``?search=``).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from mi_portal.services.message_list import ThreadQuery, thread_page
from mi_portal.services.permissions import Permission, page_access
from mi_portal.state.guard import current, guarded
from mi_portal.state.search_handles import private_address

FLAGS = ("unread", "mine", "waiting")
KEYS = (*FLAGS, "search", "q", "page")


def normalise(params: dict[str, str]) -> dict[str, str]:
    """The view a URL asks for, with every value the controls cannot show dropped."""
    view = {k: "1" for k in FLAGS if params.get(k) == "1"}
    search = " ".join(params.get("search", "").split())[:100]
    if search:
        view["search"] = search
    page = params.get("page", "")
    if page.isdigit() and 0 < int(page) <= 100_000:
        view["page"] = str(int(page))
    return view


def url_for(view: dict[str, str]) -> str:
    clean = {k: view[k] for k in KEYS if view.get(k, "") not in ("", "0")}
    return "/messages" + (f"?{urlencode(clean)}" if clean else "")


class MessagesState(rx.State):
    rows: list[dict[str, Any]] = []
    total: int = 0
    page: int = 0
    page_size: int = 25
    zone_caption: str = ""  # "Times in Europe/London (GMT)": the clinic's clock
    view: dict[str, str] = {}
    search_text: str = ""
    loading: bool = True
    blocked: str = ""
    error: str = ""
    notice: str = ""
    search_hint: str = "Search by case reference"
    _searches: dict[str, str] = {}

    def _address(self, view: dict[str, str]) -> str:
        """The URL of ``view``: a text search replaced by its handle."""
        self._searches, url = private_address(self._searches, view, url_for)
        return url

    def _url(self, **changes: str) -> str:
        view = {**self.view, **changes}
        if "page" not in changes:
            view.pop("page", None)
        return self._address(view)

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.error = self.notice = ""
        self.rows, self.total = [], 0
        signed = current()
        actor = signed.actor
        blocked = page_access(
            actor, Permission.CASES_VIEW, has_memberships=bool(signed.memberships)
        )
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked = blocked
            return None
        self.blocked, self.loading = "", True
        raw = {k: str(v) for k, v in self.router.url.query_parameters.items() if k in KEYS}
        asked = dict(raw)
        handle = asked.pop("q", "")
        if handle:
            term = self._searches.get(handle, "")
            if term:
                asked["search"] = term
            else:
                self.notice = "That search is no longer available here; please search again."
        view = normalise(asked)
        self.view, self.search_text = view, view.get("search", "")
        address = self._address(view)
        if address != url_for(raw):
            return rx.redirect(address, replace=True)
        query = ThreadQuery(
            unread="unread" in view,
            mine="mine" in view,
            waiting="waiting" in view,
            search=view.get("search", ""),
            page=int(view.get("page", "0")),
        )
        try:
            result = await asyncio.to_thread(thread_page, actor, query)
        except Exception:
            self.error = "The conversations could not be loaded. Please try again."
            self.loading = False
            return None
        self.rows = [asdict(r) for r in result.rows]
        self.total, self.page, self.page_size = result.total, result.page, result.page_size
        self.zone_caption = result.zone_caption
        self.search_hint = (
            "Search by case reference" if result.masked else "Search name, email or reference"
        )
        self.error = result.problem
        self.loading = False
        return None

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def tick(self, key: str, checked: bool):  # type: ignore[no-untyped-def]
        if key not in FLAGS:
            return None
        return rx.redirect(self._url(**{key: "1" if checked is True else ""}))

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def edit_search(self, value: str) -> None:
        if isinstance(value, str):
            self.search_text = value[:100]

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def apply_search(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        data = form_data if isinstance(form_data, dict) else {}
        typed = " ".join(str(data.get("search", self.search_text)).split())[:100]
        return rx.redirect(self._url(search=typed))

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def go_to_page(self, page: int):  # type: ignore[no-untyped-def]
        wanted = page if isinstance(page, int) and page >= 0 else 0
        return rx.redirect(self._url(page=str(wanted)))

    @rx.var
    def page_count(self) -> int:
        return max(1, -(-self.total // self.page_size))
