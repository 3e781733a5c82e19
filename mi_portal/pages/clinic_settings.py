"""/settings/clinic: the clinic's profile, logo, patient-page colour, regional settings and the
link to its patient form. Owners edit; managers read."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import described, field_label
from mi_portal.components.layout import page_frame
from mi_portal.components.settings_tabs import settings_tabs
from mi_portal.pages.clinic_branding import (
    colour_section,
    link_section,
    logo_section,
    remove_logo_dialog,
)
from mi_portal.pages.clinic_settings_parts import error, has_error, section, text_field
from mi_portal.services import clinic_choices
from mi_portal.state.clinic_settings import ClinicSettingsState as S

_SELECT_CLASS = "rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface"


def _profile() -> rx.Component:
    return section(
        "Profile",
        "profile",
        text_field("Clinic name", "name", autocomplete="organization"),
        text_field("Contact email", "contact_email", type_="email", hint="Shown to patients."),
        text_field(
            "Contact phone",
            "contact_phone",
            type_="tel",
            hint="With the country code, e.g. +1 202 555 0143.",
        ),
        text_field("Address", "address", multiline=True, hint="At most 500 characters."),
        save=S.save_profile,
    )


def _select(label: str, name: str, options: list[rx.Component]) -> rx.Component:
    return rx.vstack(
        field_label(label, for_=name),
        rx.el.select(
            *options,
            id=name,
            name=name,
            value=getattr(S, name),
            on_change=lambda v: S.set_field(name, v),
            disabled=~S.can_manage,
            class_name=_SELECT_CLASS,
            style={"max_width": "100%", "width": "100%"},
            **described(has_error(name), name),
        ),
        error(name),
        spacing="1",
        width="100%",
    )


def _zone_options() -> list[rx.Component]:
    return [
        rx.el.optgroup(*(rx.el.option(z, value=z) for z in zones), label=group)
        for group, zones in clinic_choices.timezone_groups()
    ]


def _regional() -> rx.Component:
    return section(
        "Regional settings",
        "regional",
        rx.text(
            "Dates and times are shown to the clinic's staff in its time zone; quotes use its "
            "currency and locale (a new currency also prices the catalog in it; amounts are not "
            "converted); the jurisdiction sets the deadlines of privacy requests.",
            size="2",
        ),
        _select("Time zone", "timezone", _zone_options()),
        _select(
            "Language and country (number and date formats)",
            "locale",
            [rx.el.option(f"{n} ({c})", value=c) for c, n in clinic_choices.locales().items()],
        ),
        _select(
            "Currency",
            "currency",
            [rx.el.option(f"{c} — {n}", value=c) for c, n in clinic_choices.currencies().items()],
        ),
        _select(
            "Jurisdiction",
            "jurisdiction",
            [
                rx.el.option("Not set", value=""),
                *(rx.el.option(n, value=c) for c, n in clinic_choices.jurisdictions()),
            ],
        ),
        save=S.save_regional,
    )


def clinic_settings_page() -> rx.Component:
    return page_frame(
        settings_tabs("profile"),
        rx.match(
            S.blocked,
            (
                "switch",
                rx.callout(
                    "Clinic settings belong to a clinic. Switch into a clinic to see them.",
                    icon="building_2",
                    id="settings-needs-clinic",
                ),
            ),
            (
                "denied",
                rx.callout(
                    "Only the clinic's owner and managers see the clinic's settings.",
                    icon="info",
                    id="settings-denied",
                ),
            ),
            rx.cond(
                S.loading,
                rx.hstack(rx.spinner(), rx.text("Loading the clinic's settings…")),
                rx.vstack(
                    rx.cond(
                        ~S.can_manage,
                        rx.callout(
                            "You can see these settings; only the clinic's owner can change them.",
                            icon="eye",
                            id="settings-read-only",
                        ),
                    ),
                    _profile(),
                    logo_section(),
                    colour_section(),
                    _regional(),
                    link_section(),
                    remove_logo_dialog(),
                    spacing="4",
                    width="100%",
                ),
            ),
        ),
        title="Clinic settings",
    )
