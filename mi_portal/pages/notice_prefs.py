"""/settings/notifications: which email notices a member of the clinic receives."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import bare_checkbox, check_label
from mi_portal.components.layout import page_frame
from mi_portal.state.notice_prefs import NoticePrefsState


def _choice(item: rx.Var) -> rx.Component:
    kind = item["kind"].to(str)
    return check_label(
        bare_checkbox(
            checked=item["enabled"].to(bool),
            on_change=lambda checked: NoticePrefsState.toggle(kind, checked),
            id="notice-" + kind,
        ),
        item["label"].to(str),
    )


def notice_prefs_page() -> rx.Component:
    return page_frame(
        rx.text(
            "Notices are emails that name a case by its reference and link to it; they never "
            "contain the patient's details. Your choices apply to this clinic.",
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            NoticePrefsState.error != "",
            rx.callout(NoticePrefsState.error, color_scheme="red", role="alert"),
        ),
        rx.cond(
            NoticePrefsState.loading,
            rx.text("Loading your settings…", aria_busy="true"),
            rx.el.fieldset(
                rx.el.legend(rx.text("Email me when", weight="bold", size="3")),
                rx.vstack(rx.foreach(NoticePrefsState.choices, _choice), spacing="3"),
                style={"border": "none", "padding": 0, "margin": 0},
            ),
        ),
        rx.text(NoticePrefsState.saved, size="2", color_scheme="green", role="status"),
        title="Notifications",
    )
