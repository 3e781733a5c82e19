"""State of the home page: clinics and their case counts, as far as the user may see."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

import reflex as rx

from mi_portal.config import get_settings
from mi_portal.services.clinics import clinic_overview
from mi_portal.services.permissions import Permission
from mi_portal.state.guard import current, guarded

log = logging.getLogger(__name__)


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

    @rx.event
    @guarded(Permission.CLINICS_OVERVIEW)
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
        return None

    @rx.var
    def total_cases(self) -> int:
        return sum(int(c["total_cases"]) for c in self.clinics)
