"""The patient's quote page: the clinic's quote, its PDF, and the patient's answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx
from reflex.vars import Var

from mi_portal.components.fields import field_label
from mi_portal.components.layout import error_callout
from mi_portal.pages.intake import patient_frame
from mi_portal.services.patient_quotes import MAX_NAME, MAX_REASON
from mi_portal.state.quote_page import QuotePageState as S


def _line(line: Var) -> rx.Component:
    unit = line["unit_label"].to(str)
    return rx.el.li(
        rx.hstack(
            rx.text(line["description"].to(str), weight="medium", word_break="break-word"),
            rx.spacer(),
            rx.text(line["amount"].to(str), weight="medium", class_name="quote-line-amount"),
            align="start",
            width="100%",
        ),
        rx.text(
            line["quantity"].to(str),
            " × ",
            line["unit_price"].to(str),
            rx.cond(unit != "", rx.fragment(" per ", unit), rx.fragment()),
            size="2",
            color_scheme="gray",
        ),
        rx.cond(
            line["discount"].to(str) != "",
            rx.text("Discount ", line["discount"].to(str), size="2", color_scheme="gray"),
        ),
        rx.cond(
            line["tax"].to(str) != "",
            rx.text("Tax: ", line["tax"].to(str), size="2", color_scheme="gray"),
        ),
        class_name="quote-line",
        style={
            "padding": "0.6em 0",
            "border_bottom": "1px solid var(--gray-a5)",
            "list_style": "none",
        },
    )


def _amount(label: str, value: Var, key: str, *, strong: bool = False) -> rx.Component:
    return rx.data_list.item(
        rx.data_list.label(label),
        rx.data_list.value(
            rx.text(value, weight="bold" if strong else "regular", id=f"quote-{key}"),
        ),
        align="center",
    )


def _totals() -> rx.Component:
    return rx.data_list.root(
        _amount("Subtotal", S.subtotal, "subtotal"),
        rx.cond(S.discount != "", _amount("Discount", S.discount, "discount")),
        _amount("Tax", S.tax, "tax"),
        _amount("Total", S.total, "total", strong=True),
        rx.cond(S.deposit != "", _amount("Deposit to pay now", S.deposit, "deposit")),
        orientation="horizontal",
        size="2",
        id="quote-totals",
    )


def _paragraph(title: str, text: Var, key: str) -> rx.Component:
    return rx.cond(
        text != "",
        rx.vstack(
            rx.heading(title, size="3", as_="h2"),
            rx.text(text, white_space="pre-wrap", word_break="break-word", id=f"quote-{key}"),
            spacing="1",
            width="100%",
        ),
    )


def _notice() -> rx.Component:
    return rx.cond(
        S.notice != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("info", aria_hidden="true")),
            rx.callout.text(
                S.notice,
                rx.cond(
                    S.current_link != "",
                    rx.fragment(
                        " ",
                        # A full page load: the new version's token opens its own page.
                        rx.link(
                            "Open the current version",
                            href=S.current_link,
                            reload_document=True,
                            underline="always",
                            id="quote-current-link",
                        ),
                    ),
                ),
            ),
            color_scheme=rx.cond(S.status == "accepted", "green", "amber"),
            id="quote-notice",
            role="status",
        ),
    )


def _choose() -> rx.Component:
    return rx.flex(
        rx.button(
            "Accept this quote",
            on_click=S.choose("accept"),
            size="3",
            id="quote-accept",
        ),
        rx.button(
            "Decline",
            on_click=S.choose("decline"),
            size="3",
            variant="soft",
            color_scheme="gray",
            id="quote-decline",
        ),
        spacing="3",
        wrap="wrap",
    )


def _answer_form(
    kind: str,
    explained: str,
    label: str,
    make: Callable[..., rx.Component],
    *,
    field_id: str,
    value: Var,
    on_blur: rx.EventHandler,
    max_length: int,
    color: str,
    on_confirm: rx.EventHandler,
    **field_props: Any,
) -> rx.Component:
    """One answer (``kind`` is accept or decline): what it means, its one field, confirm or cancel.

    The field (made by ``make``) keeps what is typed in the browser and hands it over on blur.
    """
    return rx.vstack(
        rx.heading(f"{kind.capitalize()} this quote", size="4", as_="h2"),
        rx.text(explained, size="2", id=f"{kind}-explained"),
        field_label(label, for_=field_id),
        make(
            id=field_id,
            name=field_id,
            default_value=value,
            on_blur=on_blur,
            max_length=max_length,
            aria_describedby=f"{kind}-explained",
            width="100%",
            **field_props,
        ),
        rx.flex(
            rx.button(
                f"Confirm: I {kind} this quote",
                on_click=on_confirm,
                size="3",
                color_scheme=color,
                id=f"{kind}-confirm",
            ),
            rx.button(
                "Cancel", on_click=S.choose(""), size="3", variant="soft", color_scheme="gray"
            ),
            spacing="3",
            wrap="wrap",
        ),
        spacing="2",
        width="100%",
        id=f"quote-{kind}-form",
    )


def _accept_form() -> rx.Component:
    return _answer_form(
        "accept",
        "To accept, type your full name as you gave it to the clinic, then confirm. "
        "Your typed name counts as your signature: the clinic receives it with the date "
        "and time, and this exact version of the quote is the one you accept.",
        "Your full name",
        rx.input,
        field_id="accept-name",
        value=S.typed_name,
        on_blur=S.update_name,
        max_length=MAX_NAME,
        color="green",
        on_confirm=S.accept,
        auto_complete="name",
        size="3",
    )


def _decline_form() -> rx.Component:
    return _answer_form(
        "decline",
        "You can tell the clinic why (optional). Declining closes this quote; the clinic "
        "may send you a new one.",
        "Reason (optional)",
        rx.text_area,
        field_id="decline-reason",
        value=S.reason,
        on_blur=S.update_reason,
        max_length=MAX_REASON,
        color="red",
        on_confirm=S.decline,
        rows="3",
    )


def _answer() -> rx.Component:
    return rx.cond(
        S.answerable,
        rx.el.section(
            rx.match(
                S.answering,
                ("accept", _accept_form()),
                ("decline", _decline_form()),
                _choose(),
            ),
            aria_label="Your answer",
            style={"width": "100%"},
        ),
    )


def _quote() -> rx.Component:
    return rx.vstack(
        rx.text("From ", rx.text.strong(S.clinic_name, id="quote-clinic"), size="3"),
        rx.text(
            "Case reference ",
            rx.code(S.reference),
            " · version ",
            S.version.to_string(),  # type: ignore[attr-defined]
            size="2",
        ),
        rx.text(
            rx.cond(S.sent_on != "", rx.fragment("Sent on ", S.sent_on, ". "), rx.fragment()),
            rx.cond(
                S.valid_until != "",
                rx.fragment(
                    "Valid until ", rx.text.strong(S.valid_until, white_space="nowrap"), "."
                ),
                rx.fragment(),
            ),
            size="2",
            id="quote-dates",
        ),
        _notice(),
        rx.cond(
            S.done != "",
            rx.callout(S.done, icon="check", color_scheme="green", id="quote-done", role="status"),
        ),
        rx.cond(
            S.accepted_name != "",
            rx.text(
                "Accepted by ",
                rx.text.strong(S.accepted_name),
                " on ",
                S.accepted_at,
                size="2",
                id="quote-accepted",
            ),
        ),
        rx.el.section(
            rx.heading("Treatments", size="3", as_="h2"),
            rx.el.ul(
                rx.foreach(S.lines, _line),
                style={"padding": "0", "margin": "0", "width": "100%"},
                id="quote-lines",
            ),
            aria_label="Treatments",
            style={"width": "100%"},
        ),
        _totals(),
        _paragraph("Message from the clinic", S.message, "message"),
        _paragraph("Terms", S.terms, "terms"),
        # The browser's own navigation (not the app's router): the route answers with the file.
        rx.link(
            rx.icon("file_down", size=16, aria_hidden="true"),
            "Download PDF",
            href=S.pdf_url,
            reload_document=True,
            download="",
            underline="always",
            display="inline-flex",
            gap="0.3em",
            align_items="center",
            id="quote-pdf",
        ),
        error_callout(S.error, id="quote-error"),
        _answer(),
        spacing="4",
        width="100%",
    )


def quote_page() -> rx.Component:
    return patient_frame(
        "receipt",
        "Your quote",
        rx.cond(
            S.invalid,
            rx.callout(S.error, icon="info", color_scheme="amber", id="quote-invalid"),
            rx.cond(S.loaded, _quote(), rx.spinner(size="3")),
        ),
    )
