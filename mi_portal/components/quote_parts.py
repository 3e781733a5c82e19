"""Pieces the quote pages share: status badges, labelled fields with their errors, totals."""

from __future__ import annotations

from typing import Any

import reflex as rx

STATUS_COLORS = {
    "draft": "gray",
    "sent": "blue",
    "viewed": "cyan",
    "accepted": "green",
    "declined": "red",
    "expired": "orange",
    "withdrawn": "gray",
    "superseded": "gray",
}


def status_badge(status: rx.Var, label: rx.Var, **props: Any) -> rx.Component:
    return rx.badge(
        label,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),  # type: ignore[arg-type]
        **props,
    )


def err(message: rx.Var, id: rx.Var | str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.text(message, color_scheme="red", size="1", class_name="field-error", id=id),
    )


def labelled(label: str | rx.Var, control: rx.Component, error: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", color_scheme="gray", as_="div"),
        control,
        error,
        spacing="1",
        min_width="0",
        width="100%",
    )


def kind_select(
    value: rx.Var,
    on_change: Any,
    *,
    choices: tuple[tuple[str, str], ...],
    label: rx.Var | str,
    id: rx.Var | str,
) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(aria_label=label, id=id, width="100%"),
        rx.select.content(*[rx.select.item(text, value=key) for key, text in choices]),
        value=value,
        on_change=on_change,
    )


def amount_row(label: str, value: rx.Var, id: str, *, strong: bool = False) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="2", weight="bold" if strong else "regular"),
        rx.spacer(),
        rx.text(value, size="2", weight="bold" if strong else "regular", id=id),
        width="100%",
    )


def totals(amounts: rx.Var, prefix: str) -> rx.Component:
    return rx.vstack(
        amount_row("Subtotal", amounts["subtotal"], f"{prefix}-subtotal"),
        rx.cond(
            amounts["discount"] != "",
            amount_row("Discount", amounts["discount"], f"{prefix}-discount"),
        ),
        amount_row("Tax", amounts["tax"], f"{prefix}-tax"),
        amount_row("Total", amounts["total"], f"{prefix}-total", strong=True),
        rx.cond(
            amounts["deposit"] != "",
            amount_row("Deposit", amounts["deposit"], f"{prefix}-deposit"),
        ),
        spacing="1",
        width="100%",
    )
