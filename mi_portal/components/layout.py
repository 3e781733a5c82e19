"""The page frame shared by every screen."""

from __future__ import annotations

import reflex as rx


def page_frame(*children: rx.Component, title: str) -> rx.Component:
    """Header with the product name, then the page's content."""
    return rx.box(
        rx.hstack(
            rx.hstack(
                rx.icon("stethoscope", size=22),
                rx.heading("MI Portal", size="5"),
                align="center",
                spacing="2",
            ),
            rx.spacer(),
            rx.text("Clinic workspace", color_scheme="gray", size="2"),
            padding_x="1.5em",
            padding_y="0.9em",
            border_bottom="1px solid var(--gray-a5)",
            align="center",
            width="100%",
        ),
        rx.container(
            rx.vstack(rx.heading(title, size="7"), *children, spacing="5", width="100%"),
            size="3",
            padding_y="2em",
        ),
        width="100%",
    )
