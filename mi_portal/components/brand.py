"""A clinic's branding on its patient pages: a header with its logo, and its colour on buttons,
links and the header's bar (the server refused any colour white text cannot be read on)."""

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
    """The clinic's logo (its name as the alternative text) over a bar of its colour.

    The page itself already names the clinic in words; the header adds only the picture.
    """
    return rx.cond(
        B.logo_url != "",
        rx.box(
            rx.image(
                src=B.logo_url,
                alt=B.name,
                id="clinic-logo",
                style={"height": "56px", "max_width": "100%", "object_fit": "contain"},
            ),
            padding_bottom="0.75em",
            border_bottom="4px solid var(--accent-9)",
            line_height="0",
            width="100%",
            id="clinic-brand",
        ),
    )
