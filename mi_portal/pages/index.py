"""Front page: the clinics on the platform and their case counts."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.layout import page_frame
from mi_portal.state.overview import OverviewState


def _clinic_card(clinic: rx.Var) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(clinic["name"], size="4", class_name="clinic-name"),
            rx.text(clinic["slug"], color_scheme="gray", size="1"),
            rx.hstack(
                rx.vstack(
                    rx.text("Cases", size="1", color_scheme="gray"),
                    rx.text(
                        clinic["total_cases"], size="6", weight="bold", class_name="case-count"
                    ),
                    spacing="0",
                ),
                rx.vstack(
                    rx.text("Open", size="1", color_scheme="gray"),
                    rx.text(clinic["open_cases"], size="6", weight="bold", class_name="open-count"),
                    spacing="0",
                ),
                spacing="6",
            ),
            spacing="2",
        ),
        class_name="clinic-card",
        width="100%",
    )


def index() -> rx.Component:
    return page_frame(
        rx.text(
            "Clinics on the platform and the cases waiting in their queues.",
            color_scheme="gray",
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
                        rx.text(
                            OverviewState.total_cases,
                            " cases in all",
                            color_scheme="gray",
                            size="2",
                            id="total-cases",
                        ),
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
        title="Clinics",
    )
