"""/reports: the clinic's dashboard. The address is the one source of truth for what it shows
(``?from=&to=&grain=&area=&source=``); every control shows the address's value and a change
moves to a new address, whose load computes the figures and records one view in the audit log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import reflex as rx

from mi_portal.components.charts import chart_view, stat_view
from mi_portal.services import reports
from mi_portal.services.permissions import Permission
from mi_portal.services.report_types import ReportQuery
from mi_portal.state.guard import current, guarded, page_block

log = logging.getLogger(__name__)

BASE = "/reports"
KEYS = ("from", "to", "grain", "area", "source")
QUICK_RANGES = (30, 90, 365)
# What each chart says when its range holds nothing.
EMPTY_TEXT = {
    "workload": "No open cases right now.",
    "messages": "No messages were written in this range.",
    "delivery_failures": "No messages were sent to patients in this range.",
}
EMPTY_DEFAULT = "No cases received in this range."
# A field named by ReportQueryInvalid → the address's keys to drop before trying again.
_FIELD_KEYS = {
    "from": ("from", "to"),
    "to": ("from", "to"),
    "date_from": ("from", "to"),
    "date_to": ("from", "to"),
    "range": ("from", "to"),
    "grain": ("grain",),
    "area": ("area",),
    "concern_area": ("area",),
    "source": ("source",),
}
GRAIN_LABELS = {"day": "By day", "week": "By week", "month": "By month"}
SOURCE_LABELS = {"clinic_page": "Clinic page", "directory": "Multi-clinic form"}
DEFAULT_WORDS = "the last 90 days up to today, by week, every concern area and source"


def params_of(query: ReportQuery) -> dict[str, str]:
    """The address's keys for ``query``."""
    return {
        "from": query.date_from,
        "to": query.date_to,
        "grain": query.grain,
        "area": query.concern_area,
        "source": query.source,
    }


def query_of(params: dict[str, str]) -> ReportQuery:
    """The query of an address already checked by ``parse``."""
    return ReportQuery(
        date_from=params["from"],
        date_to=params["to"],
        grain=params["grain"],
        concern_area=params["area"],
        source=params["source"],
    )


def address(view: dict[str, str], default: dict[str, str]) -> str:
    """The one address of a view: keys in a fixed order, default values left out (so ``/reports``
    always means the latest 90 days); the dates go together or not at all."""
    clean: dict[str, str] = {}
    if any(view.get(k, "") not in ("", default.get(k, "")) for k in ("from", "to")):
        clean.update({k: view.get(k, "") or default.get(k, "") for k in ("from", "to")})
    for key in ("grain", "area", "source"):
        value = view.get(key, "")
        if value and value != default.get(key, ""):
            clean[key] = value
    return BASE + (f"?{urlencode(clean)}" if clean else "")


def parse(raw: dict[str, str], today: date) -> tuple[ReportQuery, list[str]]:
    """The query an address asks for; what could not be used is dropped and explained."""
    params = {k: v for k, v in raw.items() if k in KEYS}
    problems: list[str] = []
    for _ in range(len(KEYS) + 1):
        try:
            return reports.parse_query(params, today), problems
        except reports.ReportQueryInvalid as exc:
            problems.append(exc.message)
            dropped = [k for k in _FIELD_KEYS.get(exc.field, ()) if k in params]
            if not dropped:
                break
            for key in dropped:
                params.pop(key)
    return reports.default_query(today), problems


def explain(problems: list[str], query: ReportQuery, default: ReportQuery) -> str:
    if not problems:
        return ""
    instead = (
        f"Showing the default instead: {DEFAULT_WORDS}."
        if query == default
        else "The rest of the address was kept."
    )
    return " ".join([*problems, instead])


def csv_name(key: str, query: ReportQuery) -> str:
    return f"report-{key}-{query.date_from}-to-{query.date_to}.csv".replace("_", "-")


class ReportsState(rx.State):
    blocked: str = ""
    loading: bool = True
    error: str = ""
    # Why the address could not be shown as asked (and what is shown instead).
    problem: str = ""
    # What the controls show: the address's values (dates may be typed but not yet applied).
    view: dict[str, str] = {}
    zone_caption: str = ""
    stats: list[dict[str, str]] = []
    charts: list[dict[str, Any]] = []
    # The address whose figures are on the page ("" while none are).
    shown: str = ""
    _query: dict[str, str] = {}
    _default: dict[str, str] = {}
    _today: str = ""
    # Set by a load, used up by the one compute that follows it: one view, one audit record.
    _pending: bool = False
    _csv: dict[str, bytes] = {}
    _next_problem: str = ""

    def _go(self, **changes: str) -> rx.event.EventSpec:
        return rx.redirect(address({**self.view, **changes}, self._default))

    # Runs on every navigation to /reports, query-only changes and back/forward included, so
    # the controls are rebuilt from the address.
    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.error, self.problem = "", ""
        self.stats, self.charts, self._csv, self._pending = [], [], {}, False
        self.shown = ""
        blocked = page_block(Permission.REPORTS_VIEW)
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.blocked = blocked
            return None
        self.blocked = ""
        actor = current().actor
        today = await asyncio.to_thread(reports.clinic_today, actor)
        raw = {k: str(v) for k, v in self.router.url.query_parameters.items() if k in KEYS}
        query, problems = parse(raw, today)
        default = reports.default_query(today)
        self._today = today.isoformat()
        self._default = params_of(default)
        self._query = params_of(query)
        self.view = dict(self._query)
        wanted = address(self._query, self._default)
        if wanted != address(raw, self._default) or (problems and raw):
            # Show the address of what is shown, not of values that were dropped.
            self._next_problem = explain(problems, query, default)
            return rx.redirect(wanted, replace=True)
        self.problem, self._next_problem = self._next_problem, ""
        self.loading = True
        self._pending = True
        return ReportsState.compute

    @rx.event
    @guarded(Permission.REPORTS_VIEW)
    async def compute(self) -> None:
        """The figures of the address just loaded (once; a repeated call does nothing)."""
        if not self._pending:
            return
        self._pending = False
        actor = current().actor
        query = query_of(self._query)
        try:
            report = await asyncio.to_thread(reports.clinic_report, actor, query)
            # Recorded before anything is shown: every view that reaches the page is in the log.
            await asyncio.to_thread(reports.record_view, actor, query)
        except Exception:
            log.exception("the clinic's reports could not be computed")
            self.error = "The reports could not be computed. Please try again in a moment."
            self.loading = False
            return
        self.zone_caption = report.zone_caption
        self.stats = [stat_view(s) for s in report.stats]
        self.charts = [chart_view(c, EMPTY_TEXT.get(c.key, EMPTY_DEFAULT)) for c in report.charts]
        self._csv = {c.key: c.csv_bytes() for c in report.charts if not c.empty}
        self.shown = address(self._query, self._default)
        self.loading = False

    @rx.event
    @guarded(Permission.REPORTS_VIEW)
    async def choose(self, key: str, value: str):  # type: ignore[no-untyped-def]
        """A select changed: go to the address of everything the controls show now."""
        if key not in ("grain", "area", "source") or not isinstance(value, str):
            return None
        return self._go(**{key: value[:32]})

    @rx.event
    @guarded(Permission.REPORTS_VIEW)
    async def edit(self, key: str, value: str) -> None:
        """Typing a date: shown at once, applied with Apply."""
        if key in ("from", "to") and isinstance(value, str):
            self.view = {**self.view, key: value[:10]}

    @rx.event
    @guarded(Permission.REPORTS_VIEW)
    async def apply_dates(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        data = form_data if isinstance(form_data, dict) else {}
        typed = {k: str(data.get(k, self.view.get(k, "")))[:10] for k in ("from", "to")}
        return self._go(**typed)

    @rx.event
    @guarded(Permission.REPORTS_VIEW)
    async def quick_range(self, days: int):  # type: ignore[no-untyped-def]
        if days not in QUICK_RANGES or not self._today:
            return None
        today = date.fromisoformat(self._today)
        start = today - timedelta(days=days - 1)
        return self._go(**{"from": start.isoformat(), "to": today.isoformat()})

    @rx.event
    @guarded(Permission.REPORTS_VIEW)
    async def download(self, key: str):  # type: ignore[no-untyped-def]
        """One chart's table as CSV; the export is recorded in the audit log."""
        data = self._csv.get(key) if isinstance(key, str) else None
        if data is None or not self._query:
            return None
        query = query_of(self._query)
        await asyncio.to_thread(
            functools.partial(reports.record_export, current().actor, query, key)
        )
        return rx.download(data=data, filename=csv_name(key, query), mime_type="text/csv")

    @rx.var
    def has_filters(self) -> bool:
        return bool(self.view.get("area", "") or self.view.get("source", ""))
