"""The case page's retention pieces: when each kind of this case's data is due, and the badge of
a de-identified record."""

from __future__ import annotations

import reflex as rx

from mi_portal.state.case import CaseState

R = CaseState.retention


def deidentified_badge() -> rx.Component:
    """Beside the case's heading: this record keeps only what aggregate figures need."""
    return rx.cond(
        R["deidentified"].to(bool),
        rx.badge(
            rx.icon("shield_check", size=14, aria_hidden="true"),
            "De-identified record",
            color_scheme="orange",
            size="3",
            id="case-deidentified",
            width="fit-content",
        ),
    )


def _line(line: rx.Var) -> rx.Component:
    return rx.el.li(
        rx.text(
            line["text"].to(str),
            size="2",
            color=rx.cond(line["cleared"].to(bool), "var(--gray-11)", "inherit"),
        ),
        class_name="retention-due",
    )


def retention_card() -> rx.Component:
    """When each category of this case is deleted or de-identified by the clinic's settings."""
    return rx.cond(
        R.contains("categories"),  # type: ignore[attr-defined]
        rx.card(
            rx.vstack(
                rx.heading("Retention", size="3", as_="h2"),
                rx.cond(
                    R["deidentified"].to(bool),
                    rx.text(
                        "De-identified record since ",
                        R["deidentified_on"].to(str),
                        ": the patient's identity, contact details, answers, photos and "
                        "messages were removed; concern area, status, quote totals and months "
                        "are kept for the clinic's figures.",
                        size="2",
                        id="case-retention-deidentified",
                    ),
                    rx.text(
                        "Counted from the case's last activity, by the clinic's retention "
                        "settings; new activity moves these dates.",
                        size="1",
                        color_scheme="gray",
                    ),
                ),
                rx.cond(
                    R["held"].to(bool) & ~R["deidentified"].to(bool),
                    rx.callout(
                        "On legal hold: nothing of this case is deleted or de-identified while "
                        "the hold lasts.",
                        icon="lock",
                        color_scheme="amber",
                        size="1",
                        id="case-retention-held",
                    ),
                ),
                rx.el.ul(
                    rx.foreach(R["categories"].to(list[dict[str, str]]), _line),
                    style={"margin": "0 0 0 1.2em", "padding": 0},
                ),
                spacing="2",
                width="100%",
            ),
            width="100%",
            id="case-retention",
        ),
    )
