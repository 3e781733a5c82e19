"""Clinic picker (clinic users) and clinic switcher (platform staff, with a reason)."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from mi_portal.services import tenancy
from mi_portal.services.actor import NotFound
from mi_portal.services.labels import role_label
from mi_portal.services.permissions import Permission
from mi_portal.state.guard import current, guarded


class ClinicPickerState(rx.State):
    clinics: list[dict[str, str]] = []
    is_platform: bool = False
    current_clinic: str = ""
    preselected: str = ""
    error: str = ""

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self) -> None:
        signed = current()
        self.error = ""
        self.is_platform = signed.actor.is_platform
        self.current_clinic = signed.clinic_name or ""
        if signed.actor.is_platform:
            choices = await asyncio.to_thread(tenancy.switchable_clinics, signed)
            self.clinics = [
                {"id": c.id, "slug": c.slug, "name": c.name, "role": ""} for c in choices
            ]
            wanted = str(self.router.url.query_parameters.get("clinic", ""))
            self.preselected = next((c["id"] for c in self.clinics if c["slug"] == wanted), "")
        else:
            self.clinics = [
                {"id": str(tid), "slug": slug, "name": name, "role": role_label(role)}
                for tid, slug, name, role in signed.memberships
            ]

    @rx.event
    @guarded(Permission.SELF)
    async def choose(self, tenant_id: str):  # type: ignore[no-untyped-def]
        try:
            await asyncio.to_thread(tenancy.choose_clinic, current(), tenant_id)
        except (NotFound, PermissionError):
            self.error = "That clinic is not available to you."
            return None
        return rx.redirect("/")

    @rx.event
    @guarded(Permission.TENANT_SWITCH)
    async def switch_in(self, form_data: dict[str, Any]):  # type: ignore[no-untyped-def]
        if not isinstance(form_data, dict):
            return None
        try:
            await asyncio.to_thread(
                tenancy.switch_into,
                current(),
                form_data.get("tenant_id"),
                str(form_data.get("reason", "")),
            )
        except NotFound:
            self.error = "Choose a clinic from the list."
            return None
        except ValueError as exc:
            self.error = str(exc)
            return None
        return rx.redirect("/")
