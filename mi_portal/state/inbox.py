"""The case queue page: only the visible page of rows lives in state; the URL holds the view."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from mi_portal.services import cases, photos
from mi_portal.services.actor import NotFound
from mi_portal.services.inbox import InboxQuery, inbox_page
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.state.guard import current, guarded

FILTER_KEYS = (
    "status",
    "assignee",
    "concern_area",
    "received_from",
    "received_to",
    "has_quote",
    "unread",
    "search",
    "sort",
    "desc",
    "page",
)


def _query_from(params: dict[str, str]) -> InboxQuery:
    try:
        page = max(0, int(params.get("page", "0")))
    except ValueError:
        page = 0
    return InboxQuery(
        status=params.get("status", "")[:32],
        assignee=params.get("assignee", "")[:64],
        concern_area=params.get("concern_area", "")[:64],
        received_from=params.get("received_from", "")[:10],
        received_to=params.get("received_to", "")[:10],
        has_quote=params.get("has_quote", "")[:3],
        unread=params.get("unread", "") == "1",
        search=params.get("search", "")[:100],
        sort=params.get("sort", "sla_due")[:16],
        descending=params.get("desc", "") == "1",
        page=page,
    )


class InboxState(rx.State):
    rows: list[dict[str, Any]] = []
    total: int = 0
    page: int = 0
    page_size: int = 50
    counts: dict[str, int] = {}
    filters: dict[str, str] = {}
    members: list[dict[str, str]] = []
    selected: list[str] = []
    can_edit: bool = False
    loading: bool = True
    error: str = ""
    notice: str = ""
    search_hint: str = "Search by case reference  ( / )"

    def _url(self, **changes: str) -> str:
        params = {**self.filters, **changes}
        if "page" not in changes:
            params["page"] = "0"
        clean = {k: v for k, v in params.items() if k in FILTER_KEYS and v not in ("", "0", None)}
        return "/cases" + (f"?{urlencode(clean)}" if clean else "")

    async def _fetch(self) -> None:
        actor = current().actor
        query = _query_from(dict(self.filters))
        try:
            result = await asyncio.to_thread(inbox_page, actor, query)
        except Exception:
            self.error = "The case list could not be loaded. Please try again."
            self.loading = False
            return
        rows = [asdict(r) for r in result.rows]
        self.search_hint = (
            "Search by case reference  ( / )"
            if result.masked
            else "Search name, email, phone or reference  ( / )"
        )
        if result.problem:
            self.error = result.problem
        if has_permission(actor, Permission.IMAGES_VIEW) and rows:
            # The page view's own audit event already names these cases.
            thumbs = await asyncio.to_thread(
                functools.partial(
                    photos.first_thumbnails, actor, [r["id"] for r in rows], already_listed=True
                )
            )
            for row in rows:
                link = thumbs.get(row["id"])
                row["thumbnail"] = link.url if link else ""
                # For masked roles and sensitive photos the service signs the blurred rendition.
                row["blur"] = bool(link and link.blurred)
        self.rows = rows
        self.total, self.page, self.page_size, self.counts = (
            result.total,
            result.page,
            result.page_size,
            result.status_counts,
        )
        self.selected = [s for s in self.selected if s in {r["id"] for r in self.rows}]
        self.loading = False

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def load(self) -> None:
        params = {
            k: str(v) for k, v in self.router.url.query_parameters.items() if k in FILTER_KEYS
        }
        self.filters = params
        self.error = ""
        self.loading = True
        actor = current().actor
        self.can_edit = has_permission(actor, Permission.CASES_EDIT)
        members = await asyncio.to_thread(cases.assignable, actor)
        self.members = [{"id": uid, "name": name} for uid, name in members]
        await self._fetch()

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def apply_filters(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        data = form_data if isinstance(form_data, dict) else {}
        changes = {
            k: str(data.get(k, ""))[:100]
            for k in (
                "search",
                "assignee",
                "concern_area",
                "received_from",
                "received_to",
                "has_quote",
                "sort",
            )
        }
        changes["unread"] = "1" if data.get("unread") in ("on", True, "1") else ""
        changes["desc"] = "1" if data.get("desc") in ("on", True, "1") else ""
        changes["status"] = self.filters.get("status", "")
        return rx.redirect(self._url(**changes))

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
