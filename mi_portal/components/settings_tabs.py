"""The tabs across the clinic's settings pages: each tab is a link, so the URL names the view."""

from __future__ import annotations

import reflex as rx

SETTINGS_TABS = (
    ("Profile and patient pages", "/settings/clinic", "profile"),
    ("Hours and SLA", "/settings/clinic/hours", "hours"),
    ("Intake questions", "/settings/clinic/questions", "questions"),
)


def settings_tabs(current: str) -> rx.Component:
    """Links to the clinic settings pages; ``current`` is the key of the page being shown."""
    return rx.el.nav(
        rx.hstack(
            *(
                rx.link(
                    label,
                    href=href,
                    id=f"settings-tab-{key}",
                    aria_current="page" if key == current else None,
                    weight="bold" if key == current else "regular",
                    underline="always" if key == current else "hover",
                    size="2",
                )
                for label, href, key in SETTINGS_TABS
            ),
            spacing="4",
            wrap="wrap",
        ),
        aria_label="Clinic settings",
        width="100%",
    )
