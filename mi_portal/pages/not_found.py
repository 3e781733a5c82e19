"""The page for an address that does not exist, with a way back."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.layout import public_frame


def not_found_page() -> rx.Component:
    # Public: it says nothing about records, so a mistyped case address reveals nothing.
    return public_frame(
        rx.heading("Page not found", as_="h1", size="6"),
        rx.text(
            "There is no page at this address. It may have moved, or the link may be mistyped.",
            size="2",
            color_scheme="gray",
        ),
        rx.hstack(
            rx.link("Go to the home page", href="/", id="back-home", weight="medium"),
            rx.link("Sign in", href="/signin", size="2"),
            spacing="4",
            align="center",
        ),
    )
