"""/platform/reports: usage per clinic per month (billing, exact) and suppressed trends across
clinics. The month range lives in the address (``?from=YYYY-MM&to=YYYY-MM``); each load of an
address computes the figures once and records one view in the platform's audit chain.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import date
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from mi_portal.components.charts import chart_view
from mi_portal.services import audit, clock, platform_reports
from mi_portal.services.permissions import Permission
from mi_portal.state.guard import current, guarded, page_block

log = logging.getLogger(__name__)

BASE = "/platform/reports"
KEYS = ("from", "to")
QUICK_MONTHS = (6, 12)
# The usage table has a row per clinic per month: the page shows this many, the CSV all.
TABLE_ROWS = 200
EMPTY_TEXT = "No data in this range."


def address(month_from: str, month_to: str, default: tuple[str, str]) -> str:
    """The one address of a month range (``/platform/reports`` for the default)."""
    if (month_from, month_to) == default:
        return BASE
    return BASE + "?" + urlencode({"from": month_from, "to": month_to})


def months_back(today: date, months: int) -> tuple[str, str]:
    """The ``months`` calendar months up to and including this one, as YYYY-MM."""
    index = today.year * 12 + today.month - 1 - (months - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}", f"{today.year:04d}-{today.month:02d}"


def _today() -> date:
    return clock.now().date()


class PlatformReportsState(rx.State):
    blocked: str = ""
    loading: bool = True
    error: str = ""
    problem: str = ""
    month_from: str = ""
    month_to: str = ""
    # The month fields as typed, before Apply.
    typed: dict[str, str] = {}
    usage: list[dict[str, Any]] = []
    trends: list[dict[str, Any]] = []
    usage_rows: int = 0
    _default: list[str] = []
    _pending: bool = False
    _csv: dict[str, bytes] = {}
    _next_problem: str = ""

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.error, self.problem = "", ""
        self.usage, self.trends, self._csv, self._pending = [], [], {}, False
        blocked = page_block(Permission.PLATFORM_REPORTS)
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked = blocked
            return None
        self.blocked = ""
        today = _today()
        default = platform_reports.default_months(today)
        raw = {k: str(v) for k, v in self.router.url.query_parameters.items() if k in KEYS}
        try:
            month_from, month_to = platform_reports.parse_months(raw, today)
            problem = ""
        except ValueError as exc:
            month_from, month_to = default
            problem = (
                f"{getattr(exc, 'message', '') or exc} Showing the default instead: the last "
                "six months, this month included."
            )
        self._default = list(default)
        self.month_from, self.month_to = month_from, month_to
        self.typed = {"from": month_from, "to": month_to}
        wanted = address(month_from, month_to, default)
        asked = BASE + ("?" + urlencode(raw) if raw else "")
        if wanted != asked:
            # Show the address of what is shown, not of values that were dropped.
            self._next_problem = problem
            return rx.redirect(wanted, replace=True)
        self.problem, self._next_problem = self._next_problem or problem, ""
        self.loading = True
        self._pending = True
        return PlatformReportsState.compute

    @rx.event
    @guarded(Permission.PLATFORM_REPORTS)
    async def compute(self) -> None:
        """The figures of the address just loaded (once; a repeated call does nothing)."""
        if not self._pending:
            return
        self._pending = False
        actor = current().actor
        try:
            report = await asyncio.to_thread(
                platform_reports.platform_report, actor, self.month_from, self.month_to
            )
            await asyncio.to_thread(
                platform_reports.record_view, actor, self.month_from, self.month_to
            )
        except Exception:
            log.exception("the platform's reports could not be computed")
            self.error = "The platform's figures could not be computed. Please try again."
            self.loading = False
            return
        usage = chart_view(report.usage, EMPTY_TEXT)
        self.usage_rows = len(usage["rows"])
        usage["rows"] = usage["rows"][:TABLE_ROWS]
        self.usage = [usage]
        self.trends = [chart_view(c, EMPTY_TEXT) for c in report.trends]
        charts = [report.usage, *report.trends]
        self._csv = {c.key: c.csv_bytes() for c in charts if not c.empty}
        self.loading = False

    @rx.event
    @guarded(Permission.PLATFORM_REPORTS)
    async def edit(self, key: str, value: str) -> None:
        if key in KEYS and isinstance(value, str):
            self.typed = {**self.typed, key: value[:7]}

    @rx.event
    @guarded(Permission.PLATFORM_REPORTS)
    async def apply_months(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        data = form_data if isinstance(form_data, dict) else {}
        chosen = {k: str(data.get(k, self.typed.get(k, "")))[:7] for k in KEYS}
        return rx.redirect(BASE + "?" + urlencode(chosen))

    @rx.event
    @guarded(Permission.PLATFORM_REPORTS)
    async def quick_range(self, months: int):  # type: ignore[no-untyped-def]
        if months not in QUICK_MONTHS:
            return None
        month_from, month_to = months_back(_today(), months)
        default = (self._default[0], self._default[1]) if len(self._default) == 2 else ("", "")
        return rx.redirect(address(month_from, month_to, default))

    @rx.event
    @guarded(Permission.PLATFORM_REPORTS)
    async def download(self, key: str):  # type: ignore[no-untyped-def]
        """One table as CSV (the usage table in full)."""
        data = self._csv.get(key) if isinstance(key, str) else None
        if data is None:
            return None
        # The platform's audit chain records what left it, as the clinic dashboard's exports do.
        await asyncio.to_thread(
            functools.partial(
                audit.record,
                current().actor,
                "reports.platform_exported",
                platform=True,
                target_type="platform_report",
                details={"from": self.month_from, "to": self.month_to, "table": key},
            )
        )
        name = f"platform-{key}-{self.month_from}-to-{self.month_to}.csv".replace("_", "-")
        return rx.download(data=data, filename=name, mime_type="text/csv")

    @rx.var
    def usage_cut(self) -> bool:
        return self.usage_rows > TABLE_ROWS
