"""State of the home page: clinics and their case counts, as far as the user may see."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import timedelta
from urllib.parse import urlencode

import reflex as rx

from mi_portal.components.charts import stat_view
from mi_portal.config import get_settings
from mi_portal.services import reports
from mi_portal.services.clinics import clinic_overview
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.state.guard import current, guarded

log = logging.getLogger(__name__)

# The home page's summary for those who see reports: these headline figures of the last 30 days.
SUMMARY_DAYS = 30
SUMMARY_KEYS = reports.SUMMARY_KEYS


def _card_href(slug: str, *, in_clinic: bool) -> str:
    """Inside a clinic a card opens its queue; from the platform view it leads to the switch."""
    return "/cases" if in_clinic else f"/clinics/pick?clinic={slug}"


class OverviewState(rx.State):
    """Clinics and case counts, loaded from the database when the page opens."""

    clinics: list[dict[str, str | int]] = []
    loading: bool = True
    error: str = ""
    # Platform staff outside any clinic see every clinic; everyone else sees their own one.
    platform_view: bool = False
    # The clinic's public patient form, for staff to hand out (empty outside a clinic).
    form_url: str = ""
    # Owners and managers: a few figures of the last 30 days and the way to the reports.
    can_view_reports: bool = False
    summary: list[dict[str, str]] = []
    summary_href: str = "/reports"
    summary_loading: bool = False
    summary_error: str = ""
    _summary_pending: bool = False

    @rx.event
    @guarded(Permission.CLINICS_OVERVIEW, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        actor = current().actor
        if actor.tenant_id is None and not actor.is_platform:
            return rx.redirect("/clinics/pick")
        self.loading = True
        self.error = ""
        summaries: list = []
        try:
            summaries = await asyncio.to_thread(clinic_overview, actor)
        except Exception:
            log.exception("could not load the clinic overview")
            self.error = "The clinic list could not be loaded. Please try again in a moment."
            self.clinics = []
        else:
            self.clinics = [
                {**asdict(s), "href": _card_href(s.slug, in_clinic=actor.tenant_id is not None)}
                for s in summaries
            ]
        self.platform_view = actor.tenant_id is None
        origin = get_settings().frontend_origin.rstrip("/")
        self.form_url = (
            f"{origin}/c/{summaries[0].slug}/consult"
            if actor.tenant_id is not None and summaries
            else ""
        )
        self.loading = False
        self.summary, self.summary_error = [], ""
        self.can_view_reports = has_permission(actor, Permission.REPORTS_VIEW)
        if self.can_view_reports:
            # Computed after the page is shown: the counts above do not wait for it.
            self.summary_loading = self._summary_pending = True
            return OverviewState.load_summary
        return None

    @rx.event
    @guarded(Permission.REPORTS_VIEW)
    async def load_summary(self) -> None:
        """The summary's figures, once per load of the home page: only the statements they need,
        audited as one ``reports.summary_viewed`` (not as a view of the reports)."""
        if not self._summary_pending:
            return
        self._summary_pending = False
        actor = current().actor
        try:
            today = await asyncio.to_thread(reports.clinic_today, actor)
            params = {
                "from": (today - timedelta(days=SUMMARY_DAYS - 1)).isoformat(),
                "to": today.isoformat(),
            }
            query = reports.parse_query(params, today)
            stats = await asyncio.to_thread(reports.clinic_summary, actor, query)
            await asyncio.to_thread(reports.record_summary_view, actor, query)
        except Exception:
            log.exception("could not compute the home page's summary")
            self.summary_error = "The figures could not be computed just now."
        else:
            self.summary = [stat_view(s) for s in stats]
            self.summary_href = "/reports?" + urlencode(params)
        self.summary_loading = False

    @rx.var
    def total_cases(self) -> int:
        return sum(int(c["total_cases"]) for c in self.clinics)
