"""Links every patient-facing page carries: the policy and the privacy-request form."""

from __future__ import annotations

import reflex as rx

RIGHTS_REQUEST_PATH = "/privacy/request"


def rights_request_link(
    text: str = "Make a privacy request", *, new_tab: bool = True
) -> rx.Component:
    """The public form for access, deletion, correction and opt-out requests (no account).

    From a form page it opens in a new tab, so that nothing typed there is lost.
    """
    # Underlined: inside a sentence a link must not be told apart by colour alone.
    return rx.link(
        text,
        href=RIGHTS_REQUEST_PATH,
        is_external=new_tab,
        underline="always",
        class_name="rights-request-link",
    )
