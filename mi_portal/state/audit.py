"""Audit log viewer: filter, page through and export the events the user may see."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import reflex as rx

from mi_portal.services import audit, platform_access
from mi_portal.services.audit_lines import AuditLine, audit_lines
from mi_portal.services.permissions import Permission
from mi_portal.state.guard import current, guarded

PAGE_SIZE = 50


def _date(value: object, *, end: bool = False) -> datetime | None:
    try:
        day = datetime.strptime(str(value).strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


class AuditState(rx.State):
    rows: list[dict[str, str]] = []
    # The same page of events as read: words for codes, repeated views folded (see audit_lines).
    lines: list[AuditLine] = []
    total: int = 0
    page: int = 0
    user_filter: str = ""
    action_filter: str = ""
    target_filter: str = ""
    date_from: str = ""
    date_to: str = ""
    include_platform: bool = False
    is_platform: bool = False
    # Each platform person's switched-in time in this clinic today (UTC), against the daily cap.
    platform_access: list[dict[str, str]] = []
    error: str = ""

    def _filter(self) -> audit.AuditFilter:
        return audit.AuditFilter(
            user_email=self.user_filter,
            action=self.action_filter,
            target=self.target_filter,
            date_from=_date(self.date_from),
            date_to=_date(self.date_to, end=True),
        )

    async def _reload(self) -> None:
        actor = current().actor
        self.is_platform = actor.is_platform
        rows, total = await asyncio.to_thread(
            audit.search,
            actor,
            self._filter(),
            page=self.page,
            page_size=PAGE_SIZE,
            include_platform=self.include_platform,
        )
        # IP addresses stay out of the browser state; the CSV export carries them.
        self.rows = [{k: v for k, v in asdict(r).items() if k not in ("ip", "id")} for r in rows]
        self.lines = audit_lines(rows)
        self.total = total
        access = await asyncio.to_thread(platform_access.access_today, actor)
        self.platform_access = [{"user": a.user, "label": a.label} for a in access]

    @rx.event
    @guarded(Permission.AUDIT_VIEW, page=True)
    async def load(self) -> None:
        self.page = 0
        self.error = ""
        await self._reload()

    @rx.event
    @guarded(Permission.AUDIT_VIEW)
    async def apply_filters(self, form_data: dict[str, Any]) -> None:
        data = form_data if isinstance(form_data, dict) else {}
        self.user_filter = str(data.get("user", ""))[:254]
        self.action_filter = str(data.get("action", ""))[:64]
        self.target_filter = str(data.get("target", ""))[:64]
        self.date_from = str(data.get("date_from", ""))[:10]
        self.date_to = str(data.get("date_to", ""))[:10]
        bad = [d for d in (self.date_from, self.date_to) if d and _date(d) is None]
        self.error = "Dates are written YYYY-MM-DD." if bad else ""
        self.page = 0
        await self._reload()

    @rx.event
    @guarded(Permission.AUDIT_VIEW)
    async def set_include_platform(self, value: bool) -> None:
        self.include_platform = value is True
        self.page = 0
        await self._reload()

    @rx.event
    @guarded(Permission.AUDIT_VIEW)
    async def next_page(self) -> None:
        if (self.page + 1) * PAGE_SIZE < self.total:
            self.page += 1
        await self._reload()

    @rx.event
    @guarded(Permission.AUDIT_VIEW)
    async def previous_page(self) -> None:
        self.page = max(0, self.page - 1)
        await self._reload()

    @rx.event
    @guarded(Permission.AUDIT_VIEW)
    async def export_csv(self):  # type: ignore[no-untyped-def]
        data = await asyncio.to_thread(
            audit.export_csv,
            current().actor,
            self._filter(),
            include_platform=self.include_platform,
        )
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        return rx.download(data=data, filename=f"audit-{stamp}.csv")

    @rx.var
    def has_next(self) -> bool:
        return (self.page + 1) * PAGE_SIZE < self.total

    @rx.var
    def page_label(self) -> str:
        if self.total == 0:
            return "No events"
        first = self.page * PAGE_SIZE + 1
        last = min(self.total, first + PAGE_SIZE - 1)
        return f"{first}–{last} of {self.total}"
