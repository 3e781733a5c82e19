"""The published privacy policy, with its version and effective date (public)."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.privacy_links import rights_request_link
from mi_portal.services.policy import POLICY_EFFECTIVE, POLICY_VERSION, policy_blocks


def _block(kind: str, text: str) -> rx.Component:
    if kind == "heading":
        return rx.heading(text, as_="h2", size="4", margin_top="0.75em")
    return rx.text(text, as_="p", size="2")


def privacy_page() -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.heading("Privacy policy", as_="h1", size="6"),
                rx.text(
                    f"Version {POLICY_VERSION}, effective {POLICY_EFFECTIVE:%B} "
                    f"{POLICY_EFFECTIVE.day}, {POLICY_EFFECTIVE.year}.",
                    size="2",
                    color_scheme="gray",
                    id="policy-version",
                ),
                rx.text(
                    "To see, correct or delete the data a clinic holds about you, or to opt out: ",
                    rights_request_link(new_tab=False),
                    ".",
                    size="2",
                    id="rights-request-line",
                ),
                *[_block(kind, text) for kind, text in policy_blocks()],
                spacing="2",
                width="100%",
            ),
            size="3",
            width="100%",
            max_width="820px",
        ),
        padding="1em",
        background="var(--gray-a2)",
        min_height="100vh",
    )
