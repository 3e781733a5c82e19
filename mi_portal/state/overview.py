"""State of the home page: clinics and their case counts, as far as the user may see."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

import reflex as rx

from mi_portal.services.clinics import clinic_overview
from mi_portal.services.permissions import Permission
from mi_portal.state.guard import current, guarded

log = logging.getLogger(__name__)


class OverviewState(rx.State):
    """Clinics and case counts, loaded from the database when the page opens."""

    clinics: list[dict[str, str | int]] = []
    loading: bool = True
    error: str = ""

    @rx.event
    @guarded(Permission.CLINICS_OVERVIEW)
    async def load(self):  # type: ignore[no-untyped-def]
        actor = current().actor
        if actor.tenant_id is None and not actor.is_platform:
            return rx.redirect("/clinics/pick")
        self.loading = True
        self.error = ""
        try:
            summaries = await asyncio.to_thread(clinic_overview, actor)
        except Exception:
            log.exception("could not load the clinic overview")
            self.error = "The clinic list could not be loaded. Please try again in a moment."
            self.clinics = []
        else:
            self.clinics = [asdict(s) for s in summaries]
        self.loading = False
        return None

    @rx.var
    def total_cases(self) -> int:
        return sum(int(c["total_cases"]) for c in self.clinics)
