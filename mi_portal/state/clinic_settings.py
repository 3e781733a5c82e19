"""/settings/clinic: the clinic's profile, logo, patient-page colour, regional settings, form link.

Each section saves on its own; a refused field keeps what was typed and shows its own error.
Nothing here is personal: these are the clinic's public business details.
"""

from __future__ import annotations

import asyncio
import functools
import html
import re
from typing import Any

import reflex as rx

from mi_portal.services import clinic_settings
from mi_portal.services.clinic_settings import ClinicSettings, SettingsInvalid
from mi_portal.services.images import LOGO_MAX_BYTES
from mi_portal.services.permissions import Permission, has_permission
from mi_portal.state.guard import current, guarded, page_block

# The fields of each section, as the page names them.
SECTIONS: dict[str, tuple[str, ...]] = {
    "profile": ("name", "contact_email", "contact_phone", "address"),
    "branding": ("brand_color",),
    "regional": ("timezone", "locale", "currency", "jurisdiction"),
}
FIELDS = frozenset(f for fields in SECTIONS.values() for f in fields)
# A little more than any field takes, so a too-long entry is shown and refused, not cut.
_MAX_TYPED = 600
_HEX6 = re.compile(r"#[0-9a-f]{6}")
SAVED = {
    "profile": "Profile saved.",
    "branding": "Patient page colour saved.",
    "regional": "Regional settings saved.",
}


def snippet(url: str) -> str:
    """The HTML a clinic pastes into its own website to link to its form."""
    return f'<a href="{html.escape(url, quote=True)}">Send us your photos</a>'


class ClinicSettingsState(rx.State):
    blocked: str = ""
    loading: bool = True
    can_manage: bool = False
    slug: str = ""
    consult_url: str = ""
    logo_url: str = ""
    name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    address: str = ""
    brand_color: str = ""
    timezone: str = "UTC"
    locale: str = "en_US"
    currency: str = "USD"
    jurisdiction: str = ""
    errors: dict[str, str] = {}
    # The success notice of each section, by section name.
    notices: dict[str, str] = {}
    # Bumped after each save: the page's text fields remount showing the saved values.
    revision: int = 0
    confirming_remove: bool = False
    copied: str = ""

    @rx.var
    def picker_color(self) -> str:
        """The colour picker's value: it takes only a full #rrggbb."""
        typed = self.brand_color.strip().lower()
        return typed if _HEX6.fullmatch(typed) else "#0a7c6f"

    @rx.var
    def embed_snippet(self) -> str:
        return snippet(self.consult_url) if self.consult_url else ""

    def _show(self, view: ClinicSettings, fields: tuple[str, ...] | frozenset[str]) -> None:
        self.slug, self.consult_url, self.logo_url = view.slug, view.consult_url, view.logo_url
        for field in fields:
            setattr(self, field, getattr(view, field))

    @rx.event
    @guarded(Permission.SELF, page=True)
    async def load(self):  # type: ignore[no-untyped-def]
        signed = current()
        self.errors, self.notices, self.copied, self.confirming_remove = {}, {}, "", False
        blocked = page_block(Permission.SETTINGS_VIEW)
        if blocked:
            self.loading = False
            if blocked == "pick":
                return rx.redirect("/clinics/pick")
            self.reset()
            self.blocked, self.loading = blocked, False
            return None
        self.blocked = ""
        self.can_manage = has_permission(signed.actor, Permission.SETTINGS_MANAGE)
        view = await asyncio.to_thread(clinic_settings.read, signed.actor)
        self._show(view, FIELDS)
        self.loading = False
        return None

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def set_field(self, name: str, value: Any) -> None:
        if not isinstance(name, str) or name not in FIELDS or isinstance(value, dict | list):
            return
        setattr(self, name, str(value if value is not None else "")[:_MAX_TYPED])
        self.errors = {k: v for k, v in self.errors.items() if k != name}
        section = next(s for s, fields in SECTIONS.items() if name in fields)
        self.notices = {k: v for k, v in self.notices.items() if k != section}

    async def _save(self, section: str, save: Any, form: object = None) -> None:
        fields = SECTIONS[section]
        # The submitted form is what was typed (Enter submits without leaving the field).
        if isinstance(form, dict):
            for field in fields:
                if isinstance(form.get(field), str):
                    setattr(self, field, form[field][:_MAX_TYPED])
        self.errors = {k: v for k, v in self.errors.items() if k not in fields}
        self.notices = {k: v for k, v in self.notices.items() if k != section}
        typed = {f: getattr(self, f) for f in fields}
        try:
            view, changes = await asyncio.to_thread(
                functools.partial(save, current().actor, **typed)
            )
        except SettingsInvalid as problem:
            self.errors = {**self.errors, **problem.errors}
            return  # what was typed stays in the form
        self._show(view, fields)
        self.revision += 1
        self.notices = {**self.notices, section: SAVED[section] if changes else "Nothing changed."}

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def save_profile(self, form: dict[str, Any] | None = None) -> None:
        await self._save("profile", clinic_settings.save_profile, form)

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def save_branding(self, form: dict[str, Any] | None = None) -> None:
        await self._save("branding", clinic_settings.save_branding, form)

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def reset_branding(self) -> None:
        self.brand_color = ""
        await self._save("branding", clinic_settings.save_branding)

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def save_regional(self, form: dict[str, Any] | None = None) -> None:
        await self._save("regional", clinic_settings.save_regional, form)

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def upload_logo(self, files: list[rx.UploadFile]) -> None:
        self.errors = {k: v for k, v in self.errors.items() if k != "logo"}
        self.notices = {k: v for k, v in self.notices.items() if k != "logo"}
        chosen = list(files) if isinstance(files, list) else []
        if len(chosen) != 1:
            self.errors = {**self.errors, "logo": "Choose one image for the logo."}
            return
        data = await chosen[0].read(LOGO_MAX_BYTES + 1)
        try:
            view = await asyncio.to_thread(clinic_settings.set_logo, current().actor, data)
        except SettingsInvalid as problem:
            self.errors = {**self.errors, **problem.errors}
            return
        self.logo_url = view.logo_url
        self.notices = {**self.notices, "logo": "Logo saved. Patient pages show it now."}

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def ask_remove_logo(self) -> None:
        self.confirming_remove = bool(self.logo_url)

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def cancel_remove_logo(self) -> None:
        self.confirming_remove = False

    @rx.event
    @guarded(Permission.SETTINGS_MANAGE)
    async def remove_logo(self) -> None:
        if not self.confirming_remove:
            return  # removing follows the confirmation dialog, never a bare event
        self.confirming_remove = False
        view = await asyncio.to_thread(clinic_settings.remove_logo, current().actor)
        self.logo_url = view.logo_url
        self.notices = {**self.notices, "logo": "Logo removed."}

    @rx.event
    @guarded(Permission.SETTINGS_VIEW)
    async def copy(self, what: str):  # type: ignore[no-untyped-def]
        # The server's own copy of the address, never a value the browser sent.
        text = {"link": self.consult_url, "snippet": self.embed_snippet}.get(str(what), "")
        if not text:
            return None
        self.copied = str(what)
        return rx.set_clipboard(text)
