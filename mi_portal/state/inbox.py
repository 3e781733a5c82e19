"""The case queue page: only the visible page of rows lives in state; the URL holds the view."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from datetime import date
from typing import Any, NamedTuple
from urllib.parse import urlencode

import reflex as rx

from mi_portal.db import tenant_session
from mi_portal.models import SubmissionStatus
from mi_portal.services import cases, message_list, photos
from mi_portal.services.actor import Actor, NotFound
from mi_portal.services.inbox import SORTS, InboxPage, InboxQuery, inbox_page
from mi_portal.services.intake import CONCERN_AREAS
from mi_portal.services.permissions import Permission, has_permission, page_access
from mi_portal.services.photos import PhotoLink
from mi_portal.state.guard import current, guarded
from mi_portal.state.search_handles import private_address
from mi_portal.state.session import SessionState

STATUS_LABELS = {s.value: s.value.replace("_", " ").capitalize() for s in SubmissionStatus}
# What each key may hold; anything else in a URL is dropped, so no control ever shows one value
# while the list is filtered by another.
CHOICES: dict[str, frozenset[str]] = {
    "status": frozenset(STATUS_LABELS),
    "concern_area": frozenset(CONCERN_AREAS),
    "has_quote": frozenset({"yes", "no"}),
    "sort": frozenset(SORTS - {"sla_due"}),  # sla_due is the default: not written
    "desc": frozenset({"1"}),
    "unread": frozenset({"1"}),
}
# Fields of a queue row the table does not show: they stay on the server (every row in state is
# sent to the browser, so they would only make each page's state heavier).
NOT_SHOWN = ("last_activity_at", "masked")
TEXT_KEYS = ("search", "received_from", "received_to")
FILTER_KEYS = (
    "status",
    "assignee",
    "concern_area",
    "received_from",
    "received_to",
    "has_quote",
    "unread",
    "search",
    "q",
    "sort",
    "desc",
    "page",
)
# Searches kept per tab for their URL handles; the oldest is forgotten past this many.


def _day(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat() if len(value) == 10 else ""
    except ValueError:
        return ""


def normalise(params: dict[str, str], member_ids: set[str]) -> dict[str, str]:
    """The view a URL asks for, with every value the controls cannot show dropped."""
    view = {k: v for k, v in params.items() if k in CHOICES and v in CHOICES[k]}
    assignee = params.get("assignee", "")
    if assignee in ("mine", "unassigned") or assignee in member_ids:
        view["assignee"] = assignee
    search = " ".join(params.get("search", "").split())[:100]
    if search:
        view["search"] = search
    for key in ("received_from", "received_to"):
        if day := _day(params.get(key, "")):
            view[key] = day
    page = params.get("page", "")
    if page.isdigit() and 0 < int(page) <= 100_000:
        view["page"] = str(int(page))
    return view


def url_for(view: dict[str, str]) -> str:
    """The one URL of a view: keys in a fixed order, empty and default values left out."""
    clean = {k: view[k] for k in FILTER_KEYS if view.get(k, "") not in ("", "0")}
    return "/cases" + (f"?{urlencode(clean)}" if clean else "")


def _query_from(view: dict[str, str]) -> InboxQuery:
    return InboxQuery(
        status=view.get("status", ""),
        assignee=view.get("assignee", ""),
        concern_area=view.get("concern_area", ""),
        received_from=view.get("received_from", ""),
        received_to=view.get("received_to", ""),
        has_quote=view.get("has_quote", ""),
        unread=view.get("unread", "") == "1",
        search=view.get("search", ""),
        sort=view.get("sort", "") or "sla_due",
        descending=view.get("desc", "") == "1",
        page=int(view.get("page", "0") or 0),
    )


class _QueueReads(NamedTuple):
    page: InboxPage
    thumbs: dict[str, PhotoLink] | None  # None: this role sees no photos
    unread: int | None  # the header's unread count (None: not asked)


def _read_queue(actor: Actor, query: InboxQuery, *, count_unread: bool = False) -> _QueueReads:
    """The queue page, its rows' first thumbnails and (``count_unread``, on the page's load) the
    header's unread count, through one session: one trip to a worker thread."""
    with tenant_session(actor.require_tenant()) as session:
        result = inbox_page(actor, query, lent=session)
        thumbs = None
        if has_permission(actor, Permission.IMAGES_VIEW) and result.rows:
            # The page view's own audit event already names these cases.
            thumbs = photos.first_thumbnails(
                actor, [r.id for r in result.rows], already_listed=True, lent=session
            )
        unread = message_list.total_unread(actor, lent=session) if count_unread else None
        return _QueueReads(result, thumbs, unread)


class InboxState(rx.State):
    rows: list[dict[str, Any]] = []
    total: int = 0
    page: int = 0
    page_size: int = 50
    zone_caption: str = ""  # "Times in Europe/London (GMT)": the clinic's clock
    counts: dict[str, int] = {}
    # The URL's view (what the rows are) and what the controls show: equal after every load;
    # they differ only while someone is typing a search or a date not yet applied.
    filters: dict[str, str] = {}
    view: dict[str, str] = {}
    members: list[dict[str, str]] = []
    selected: list[str] = []
    can_edit: bool = False
    loading: bool = True
    # "" when the queue can be shown; "switch" for platform staff outside any clinic; "denied".
    blocked: str = ""
    error: str = ""
    notice: str = ""
    search_hint: str = "Search by case reference  ( / )"
    # A text search (a name, an email, a phone number) never goes into the address: the URL
    # carries an opaque handle instead (`?q=…`), resolved here, so patient details stay out of
    # browser history and any log of requests. Case references stay in clear (`?search=…`).
    _searches: dict[str, str] = {}
    # A message for the next load (the address is replaced first, and a load clears notices).
    _next_notice: str = ""

    def _address(self, view: dict[str, str]) -> str:
        """The URL of ``view``: a text search replaced by its handle."""
        self._searches, url = private_address(self._searches, view, url_for)
        return url

    def _url(self, **changes: str) -> str:
        view = {**self.view, "status": self.filters.get("status", ""), **changes}
        if "page" not in changes:
            view.pop("page", None)
        return self._address(view)

    async def _fetch(self, *, count_unread: bool = False) -> None:
        actor = current().actor
        query = _query_from(self.filters)
        try:
            result, thumbs, unread = await asyncio.to_thread(
                functools.partial(_read_queue, actor, query, count_unread=count_unread)
            )
        except Exception:
            self.error = "The case list could not be loaded. Please try again."
            self.loading = False
            return
        if unread is not None:
            (await self.get_state(SessionState)).unread_messages = unread
        rows = [asdict(r) for r in result.rows]
        me = str(actor.user_id)
        for row in rows:
            row["mine"] = row.pop("assignee_id") == me
            row["concern_label"] = CONCERN_AREAS.get(row.pop("concern_area"), "Something else")
            status = row.pop("status")
            row["status_label"] = STATUS_LABELS.get(status, status)
            for key in NOT_SHOWN:
                row.pop(key, None)
        self.search_hint = (
            "Search by case reference  ( / )"
            if result.masked
            else "Search name, email, phone or reference  ( / )"
        )
        if result.problem:
            self.error = result.problem
        if thumbs is not None:
            for row in rows:
                link = thumbs.get(row["id"])
                row["thumbnail"] = link.url if link else ""
                # For masked roles and sensitive photos the service signs the blurred rendition.
                row["blur"] = bool(link and link.blurred)
        self.rows = rows
        self.zone_caption = result.zone_caption
        self.total, self.page, self.page_size, self.counts = (
            result.total,
            result.page,
            result.page_size,
            result.status_counts,
        )
        self.selected = [s for s in self.selected if s in {r["id"] for r in self.rows}]
        self.loading = False

    # Runs on every navigation to /cases, query-only changes and back/forward included (Reflex
    # dispatches on_load on each location change), so the controls are rebuilt from the URL.
    # It needs only a sign-in: a user who may not see the queue is told why and what to do.
    # The header's unread count is read with the rows (one trip to a worker thread), or on its
    # own when no rows are read.
    @rx.event
    @guarded(Permission.SELF, page=True, page_counts_unread=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.error = ""
        self.notice = ""
        self.rows, self.total, self.counts, self.selected = [], 0, {}, []
        signed = current()
        actor = signed.actor
        blocked = page_access(
            actor, Permission.CASES_VIEW, has_memberships=bool(signed.memberships)
        )
        if blocked:
            self.loading = False
            await self._count_unread()
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked = blocked
            return None
        self.blocked = ""
        self.loading = True
        self.can_edit = has_permission(actor, Permission.CASES_EDIT)
        members = cases.kept_assignable(actor)
        if members is None:
            members = await asyncio.to_thread(cases.assignable, actor)
        self.members = [{"id": str(uid), "name": name} for uid, name in members]
        raw = {k: str(v) for k, v in self.router.url.query_parameters.items() if k in FILTER_KEYS}
        asked = dict(raw)
        handle = asked.pop("q", "")
        if handle:
            term = self._searches.get(handle, "")
            if term:
                asked["search"] = term
            else:
                self._next_notice = "That search is no longer available here; please search again."
        view = normalise(asked, {m["id"] for m in self.members})
        self.filters, self.view = view, dict(view)
        address = self._address(view)
        if address != url_for(raw):
            # Show the URL of what is listed (a text search by its handle), not of values that
            # were dropped. The load of that URL counts the header's unread messages.
            return rx.redirect(address, replace=True)
        self.notice, self._next_notice = self._next_notice, ""
        await self._fetch(count_unread=True)
        return None

    async def _count_unread(self) -> None:
        header = await self.get_state(SessionState)
        header.unread_messages = await asyncio.to_thread(message_list.total_unread, current().actor)

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def choose(self, key: str, value: str):  # type: ignore[no-untyped-def]
        """A select changed: go to the URL of everything the bar shows now."""
        if key not in ("assignee", "concern_area", "has_quote", "sort") or not isinstance(
            value, str
        ):
            return None
        self.view = {**self.view, key: value[:64]}
        return rx.redirect(self._url())

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def tick(self, key: str, checked: bool):  # type: ignore[no-untyped-def]
        if key not in ("desc", "unread"):
            return None
        self.view = {**self.view, key: "1" if checked is True else ""}
        return rx.redirect(self._url())

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def edit(self, key: str, value: str) -> None:
        """Typing in the search or a date: shown at once, applied with Enter or Apply."""
        if key in TEXT_KEYS and isinstance(value, str):
            self.view = {**self.view, key: value[:100]}

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def apply_filters(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        data = form_data if isinstance(form_data, dict) else {}
        # The text fields' own values: a keystroke still on its way must not be lost.
        typed = {k: str(data.get(k, self.view.get(k, "")))[:100] for k in TEXT_KEYS}
        return rx.redirect(self._url(**typed))

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def show_status(self, status: str):  # type: ignore[no-untyped-def]
        return rx.redirect(self._url(status=str(status)[:32]))

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def go_to_page(self, page: int):  # type: ignore[no-untyped-def]
        wanted = page if isinstance(page, int) and page >= 0 else 0
        return rx.redirect(self._url(page=str(wanted)))

    @rx.event
    @guarded(Permission.CASES_EDIT)
    async def toggle_selected(self, submission_id: str, checked: bool) -> None:
        if not isinstance(submission_id, str):
            return
        others = [s for s in self.selected if s != submission_id]
        visible = {r["id"] for r in self.rows}
        self.selected = (
            [*others, submission_id] if checked is True and submission_id in visible else others
        )

    @rx.event
    @guarded(Permission.CASES_EDIT)
    async def select_all(self, checked: bool) -> None:
        self.selected = [r["id"] for r in self.rows] if checked is True else []

    async def _bulk(self, **change: Any) -> None:
        actor = current().actor
        done, problems = await asyncio.to_thread(cases.bulk, actor, list(self.selected), **change)
        self.notice = f"Updated {done} case{'s' if done != 1 else ''}." if done else ""
        self.error = " ".join(problems)
        self.selected = []
        await self._fetch()

    @rx.event
    @guarded(Permission.CASES_EDIT)
    async def bulk_assign(self, user_id: str) -> None:
        if user_id == "none":
            await self._bulk(unassign=True)
        else:
            await self._bulk(assignee=str(user_id))

    @rx.event
    @guarded(Permission.CASES_EDIT)
    async def bulk_status(self, status: str) -> None:
        await self._bulk(status=str(status))

    @rx.event
    @guarded(Permission.CASES_EDIT)
    async def assign_to_me(self, submission_id: str) -> None:
        actor = current().actor
        try:
            await asyncio.to_thread(cases.assign, actor, submission_id, str(actor.user_id))
        except NotFound:
            self.error = "That case was not found."
        else:
            self.notice = "Assigned to you."
        await self._fetch()

    @rx.var
    def page_count(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @rx.var
    def all_count(self) -> int:
        return sum(self.counts.values())
