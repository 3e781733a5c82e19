"""State of the front page: the clinics on the platform and their case counts."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

import reflex as rx

from mi_portal.services.clinics import clinic_overview

log = logging.getLogger(__name__)


class OverviewState(rx.State):
    """Clinics and case counts, loaded from the database when the page opens."""

    clinics: list[dict[str, str | int]] = []
    loading: bool = True
    error: str = ""

    @rx.event
    async def load(self) -> None:
        self.loading = True
        self.error = ""
        try:
            summaries = await asyncio.to_thread(clinic_overview)
        except Exception:
            log.exception("could not load the clinic overview")
            self.error = "The clinic list could not be loaded. Please try again in a moment."
            self.clinics = []
        else:
            self.clinics = [asdict(s) for s in summaries]
        self.loading = False

    @rx.var
    def total_cases(self) -> int:
        return sum(int(c["total_cases"]) for c in self.clinics)
