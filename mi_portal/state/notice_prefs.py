"""State of the notification settings: which notices the signed-in member receives."""

from __future__ import annotations

import asyncio
import logging

import reflex as rx

from mi_portal.services import notifications
from mi_portal.services.permissions import Permission
from mi_portal.state.guard import current, guarded

log = logging.getLogger(__name__)


class NoticePrefsState(rx.State):
    """The member's three choices in the clinic they are working in."""

    choices: list[dict[str, str | bool]] = []
    loading: bool = True
    error: str = ""
    saved: str = ""

    async def _reload(self) -> None:
        lines = await asyncio.to_thread(notifications.preferences, current().actor)
        self.choices = [{"kind": p.kind, "label": p.label, "enabled": p.enabled} for p in lines]

    @rx.event
    @guarded(Permission.CASES_VIEW, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        self.loading, self.error, self.saved = True, "", ""
        try:
            await self._reload()
        except Exception:
            log.exception("could not load notification settings")
            self.error = "Your settings could not be loaded. Please try again in a moment."
        self.loading = False

    @rx.event
    @guarded(Permission.CASES_VIEW)
    async def toggle(self, kind: str, enabled: bool):  # type: ignore[no-untyped-def]
        self.error, self.saved = "", ""
        try:
            await asyncio.to_thread(
                notifications.set_preference, current().actor, str(kind), bool(enabled)
            )
            await self._reload()
        except ValueError as exc:
            self.error = str(exc)
            return
        self.saved = "Saved."
