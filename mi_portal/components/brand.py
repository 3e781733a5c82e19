"""A clinic's branding on its patient pages: a header with its logo and name, and its colour on
buttons, links and that header (the server refused any colour white text cannot be read on)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from mi_portal.state.brand import BrandState as B


def _when_branded(value: Any) -> Any:
    # None leaves the theme's own value in place (the property is not written at all).
    return rx.cond(B.color != "", value, None)


def brand_colors() -> dict[str, Any]:
    """Style entries that put the clinic's colour in place of the theme's accent."""
    return {
        "--accent-9": _when_branded(B.color),
        "--accent-10": _when_branded(B.hover),
        "--accent-11": _when_branded(B.color),
        "--accent-a11": _when_branded(B.color),
        "--accent-contrast": _when_branded("#ffffff"),
    }


def brand_header() -> rx.Component:
    """The clinic's logo (its name as the alternative text) and name, on its colour."""
    return rx.cond(
        B.name != "",
        rx.hstack(
            rx.cond(
                B.logo_url != "",
                rx.box(
                    rx.image(
                        src=B.logo_url,
                        alt=B.name,
                        id="clinic-logo",
                        style={"height": "48px", "max_width": "160px", "object_fit": "contain"},
                    ),
                    background="white",
                    padding="4px",
                    border_radius="var(--radius-2)",
                    line_height="0",
                    flex_shrink="0",
                ),
            ),
            rx.text(
                B.name,
                weight="bold",
                size="4",
                style={"color": "var(--accent-contrast)", "overflow_wrap": "anywhere"},
            ),
            align="center",
            spacing="3",
            width="100%",
            padding="0.75em 1em",
            border_radius="var(--radius-3)",
            background="var(--accent-9)",
            id="clinic-brand",
        ),
    )
