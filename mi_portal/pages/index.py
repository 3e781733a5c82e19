"""Home page: the clinic's case counts and patient form link, or every clinic for platform staff."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.charts import stat_cards
from mi_portal.components.layout import page_frame
from mi_portal.state.overview import OverviewState


def _count(label: str, value: rx.Var, class_name: str) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray"),
        rx.text(value, size="6", weight="bold", class_name=class_name),
        spacing="0",
    )


def _clinic_card(clinic: rx.Var) -> rx.Component:
    return rx.link(
        rx.card(
            rx.vstack(
                rx.heading(clinic["name"], as_="h2", size="4", class_name="clinic-name"),
                rx.text(clinic["slug"], color_scheme="gray", size="1"),
                rx.hstack(
                    _count("Cases", clinic["total_cases"], "case-count"),
                    _count("Open", clinic["open_cases"], "open-count"),
                    spacing="6",
                ),
                spacing="2",
            ),
            class_name="clinic-card",
            width="100%",
        ),
        href=clinic["href"].to(str),
        underline="none",
        color="inherit",
        class_name="clinic-link",
        width="100%",
    )


def _patient_form() -> rx.Component:
    """The clinic's public consultation form, to put on its website or send to patients."""
    return rx.cond(
        OverviewState.form_url != "",
        rx.card(
            rx.vstack(
                rx.heading("Your patient form", as_="h2", size="4"),
                rx.text(
                    "Patients send photos and questions to your clinic through this page.",
                    size="2",
                    color_scheme="gray",
                ),
                rx.flex(
                    rx.link(
                        OverviewState.form_url,
                        href=OverviewState.form_url,
                        id="patient-form-link",
                        is_external=True,
                        word_break="break-all",
                    ),
                    rx.button(
                        rx.icon("copy", size=14, aria_hidden="true"),
                        "Copy link",
                        size="1",
                        variant="soft",
                        on_click=[
                            rx.set_clipboard(OverviewState.form_url),
                            rx.toast.success("Link copied.", id="link-copied"),
                        ],
                        id="copy-form-link",
                    ),
                    gap="3",
                    align="center",
                    wrap="wrap",
                ),
                spacing="2",
            ),
            width="100%",
            id="patient-form",
        ),
    )


def _summary() -> rx.Component:
    """Owners and managers: headline figures of the last 30 days, and the way to the reports."""
    return rx.cond(
        OverviewState.can_view_reports & ~OverviewState.platform_view,
        rx.vstack(
            rx.flex(
                rx.heading("Last 30 days", as_="h2", size="4"),
                rx.spacer(),
                rx.link(
                    "Open reports",
                    rx.icon("arrow_right", size=14, aria_hidden="true"),
                    href=OverviewState.summary_href,
                    id="open-reports",
                    size="2",
                    weight="medium",
                    white_space="nowrap",
                    display="inline-flex",
                    align_items="center",
                    gap="0.25em",
                ),
                align="center",
                spacing="2",
                width="100%",
            ),
            rx.cond(
                OverviewState.summary_loading,
                rx.hstack(rx.spinner(), rx.text("Computing…", size="2"), role="status"),
                rx.cond(
                    OverviewState.summary_error != "",
                    rx.text(OverviewState.summary_error, size="2", color_scheme="gray"),
                    stat_cards(OverviewState.summary, id="home-summary"),
                ),
            ),
            spacing="2",
            width="100%",
            id="home-reports",
        ),
    )


def index() -> rx.Component:
    return page_frame(
        rx.text(
            rx.cond(
                OverviewState.platform_view,
                "Clinics on the platform and the cases waiting in their queues. "
                "Open one to switch into it.",
                "Your clinic's cases at a glance.",
            ),
            color_scheme="gray",
            id="home-intro",
        ),
        rx.cond(
            OverviewState.loading,
            rx.hstack(rx.spinner(), rx.text("Loading clinics…"), id="loading"),
            rx.cond(
                OverviewState.error != "",
                rx.callout(
                    OverviewState.error, icon="triangle_alert", color_scheme="red", id="error"
                ),
                rx.cond(
                    OverviewState.clinics.length() > 0,  # type: ignore[attr-defined]
                    rx.vstack(
                        rx.grid(
                            rx.foreach(OverviewState.clinics, _clinic_card),
                            columns=rx.breakpoints(initial="1", sm="2", md="3"),
                            spacing="4",
                            width="100%",
                        ),
                        rx.cond(
                            OverviewState.platform_view,
                            rx.text(
                                OverviewState.total_cases,
                                " cases in all",
                                color_scheme="gray",
                                size="2",
                                id="total-cases",
                            ),
                        ),
                        _summary(),
                        _patient_form(),
                        spacing="4",
                        width="100%",
                    ),
                    rx.callout(
                        "No clinics yet. Run `mi-portal seed` to create the demo clinics.",
                        icon="info",
                        id="empty",
                    ),
                ),
            ),
        ),
        title=rx.cond(OverviewState.platform_view, "Clinics", "Home"),
    )
