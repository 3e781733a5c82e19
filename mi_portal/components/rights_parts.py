"""Pieces shared by the privacy-rights pages: the deadline badge and the confirmation dialog that
may ask for a reason."""

from __future__ import annotations

from typing import Any

import reflex as rx

# Tone of a deadline → badge colour (soft Radix badges, as the case queue's SLA badges).
TONE_COLORS = {"overdue": "red", "soon": "amber", "ok": "gray"}


def deadline_badge(tone: rx.Var, text: rx.Var, *, id: Any = None) -> rx.Component:
    return rx.badge(
        rx.cond(tone == "overdue", rx.icon("clock_alert", size=12, aria_hidden="true"), ""),
        text,
        color_scheme=rx.match(tone, *TONE_COLORS.items(), "gray"),  # type: ignore[arg-type]
        class_name="deadline-badge",
        id=id,
    )


def detail_line(label: str, value: rx.Var, id: str, *, label_width: str = "9em") -> rx.Component:
    """One "label: value" line of a request's details, left out when the value is empty."""
    return rx.cond(
        value.to(str) != "",
        rx.flex(
            rx.text(label, weight="medium", size="2", min_width=label_width),
            rx.text(
                value.to(str),
                size="2",
                id=id,
                white_space="pre-wrap",
                style={"overflow_wrap": "anywhere"},
            ),  # fmt: skip
            spacing="2",
            wrap="wrap",
        ),
    )


def detail_frame(
    state: Any,
    blocked: rx.Component,
    detail: rx.Component,
    *,
    back: str,
    back_href: str,
    missing_id: str,
) -> rx.Component:
    """One request's page: the gate's message, loading, "not found", or the detail."""
    return rx.cond(
        state.blocked != "",
        blocked,
        rx.cond(
            state.loading,
            rx.hstack(rx.spinner(), rx.text("Loading the request…")),
            rx.cond(
                state.missing,
                rx.vstack(
                    rx.callout("This request was not found.", icon="search_x", id=missing_id),
                    rx.link(back, href=back_href, size="2"),
                ),
                detail,
            ),
        ),
    )


def filter_link(label: str, href: str, current: rx.Var[bool], *, id: str) -> rx.Component:
    """One choice of a filter: a link to its address, marked when it is the one shown."""
    return rx.link(
        label,
        href=href,
        size="2",
        weight=rx.cond(current, "bold", "regular"),
        underline=rx.cond(current, "always", "hover"),
        aria_current=rx.cond(current, "page", "false"),
        id=id,
        white_space="nowrap",
    )


def action_dialog(
    *,
    open: rx.Var[bool],
    title: Any,
    body: Any,
    confirm_label: Any,
    on_confirm: Any,
    on_cancel: Any,
    confirm_id: str,
    field: rx.Component | None = None,
    error: rx.Var[str] | None = None,
    color: str = "red",
) -> rx.Component:
    """Are you sure? with what will happen, an optional field (a reason, a typed reference)
    and the error of the last try, shown inside the dialog so nothing typed is lost."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(body),
            field if field is not None else rx.fragment(),
            rx.cond(
                error != "",
                rx.callout(
                    error,
                    icon="triangle_alert",
                    color_scheme="red",
                    role="alert",
                    id="dialog-error",
                    margin_top="0.75em",
                ),  # fmt: skip
            )
            if error is not None
            else rx.fragment(),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", on_click=on_cancel)),
                # Solid red and blue carry white text below 4.5:1: destructive confirmations
                # use red's high-contrast shade, the others the theme's accent.
                rx.button(
                    confirm_label,
                    on_click=on_confirm,
                    id=confirm_id,
                    high_contrast=True,
                    color_scheme="red",
                )  # fmt: skip
                if color == "red"
                else rx.button(confirm_label, on_click=on_confirm, id=confirm_id),
                spacing="3",
                justify="end",
                margin_top="1em",
                wrap="wrap",
            ),
        ),
        open=open,
    )


def reason_field(value: rx.Var[str], on_change: Any, *, label: str, id: str) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=id, style={"font_size": "var(--font-size-2)"}),
        rx.text_area(
            value=value, on_change=on_change, id=id, rows="3", width="100%", max_length=1000
        ),  # fmt: skip
        spacing="1",
        width="100%",
        margin_top="0.75em",
    )
