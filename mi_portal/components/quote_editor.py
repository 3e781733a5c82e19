"""The quote draft editor: lines from the catalog or free text, the quote's fields, live totals.

Every control saves the draft as typed (debounced); errors show beside their fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from mi_portal.components.quote_parts import err, kind_select, labelled, totals
from mi_portal.state.quote_builder import NO_TAX, QuoteBuilderState

S = QuoteBuilderState
F = S.quote_form
DEBOUNCE_MS = 500
PROMPT = "choose"
KINDS = (("none", "No discount"), ("amount", "Amount"), ("percent", "Percent"))
DEPOSIT_KINDS = (("none", "No deposit"), ("amount", "Amount"), ("percent", "% of total"))

# --- the draft editor ---------------------------------------------------------------------------


def _line(r: rx.Var) -> rx.Component:
    i = r["index"].to(int)
    n = r["number"].to(str)

    def field_id(name: str) -> rx.Var:
        return "line-" + r["index"].to(str) + "-" + name  # type: ignore[return-value]

    def text_input(name: str, label: str, **props: Any) -> rx.Component:
        return labelled(
            label,
            rx.input(
                value=r[name].to(str),
                on_change=lambda v: S.set_line(i, name, v),
                debounce_timeout=DEBOUNCE_MS,
                aria_label=label + ", line " + n,  # type: ignore[operator]
                aria_invalid=rx.cond(r[f"err_{name}"] != "", "true", "false"),
                id=field_id(name),
                width="100%",
                **props,
            ),
            err(r[f"err_{name}"].to(str), field_id(name) + "-error"),
        )

    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Line ", n, weight="medium", size="2"),
                rx.spacer(),
                rx.text(
                    r["amount"], weight="medium", class_name="line-amount", id=field_id("amount")
                ),
                rx.icon_button(
                    rx.icon("arrow_up", size=14),
                    size="1",
                    variant="soft",
                    disabled=r["index"] == "0",
                    on_click=S.move_line(i, -1),
                    aria_label="Move line " + n + " up",  # type: ignore[operator]
                ),
                rx.icon_button(
                    rx.icon("arrow_down", size=14),
                    size="1",
                    variant="soft",
                    disabled=r["last"] == "yes",
                    on_click=S.move_line(i, 1),
                    aria_label="Move line " + n + " down",  # type: ignore[operator]
                ),
                rx.icon_button(
                    rx.icon("trash_2", size=14),
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=S.remove_line(i),
                    aria_label="Remove line " + n,  # type: ignore[operator]
                    class_name="line-remove",
                ),
                align="center",
                width="100%",
                spacing="2",
            ),
            text_input("description", "Description", max_length=600),
            rx.grid(
                text_input("quantity", "Quantity", input_mode="numeric"),
                text_input("unit_price", "Unit price", input_mode="decimal"),
                labelled(
                    "Discount",
                    kind_select(
                        r["discount_kind"].to(str),
                        lambda v: S.set_line(i, "discount_kind", v),
                        choices=KINDS,
                        label="Discount kind, line " + n,  # type: ignore[operator]
                        id=field_id("discount_kind"),
                    ),
                    err(r["err_discount_kind"].to(str), field_id("discount_kind") + "-error"),
                ),
                rx.cond(
                    r["discount_kind"] != "none",
                    text_input("discount_value", "Discount value", input_mode="decimal"),
                ),
                labelled(
                    "Tax",
                    rx.select.root(
                        rx.select.trigger(
                            aria_label="Tax class, line " + n,  # type: ignore[operator]
                            id=field_id("tax_class"),
                            width="100%",
                        ),
                        rx.select.content(
                            rx.select.item("No tax", value=NO_TAX),
                            rx.foreach(
                                S.taxes, lambda t: rx.select.item(t["label"], value=t["id"])
                            ),
                        ),
                        value=r["tax_class"].to(str),
                        on_change=lambda v: S.set_line(i, "tax_class", v),
                    ),
                    err(r["err_tax_class"].to(str), field_id("tax_class") + "-error"),
                ),
                columns=rx.breakpoints(initial="2", md="5"),
                spacing="3",
                width="100%",
            ),
            rx.cond(
                r["unit_label"] != "",
                rx.text("Per ", r["unit_label"], size="1", color_scheme="gray"),
            ),
            err(r["err_item"].to(str), field_id("item-error")),
            err(r["err_package"].to(str), field_id("package-error")),
            spacing="2",
            width="100%",
        ),
        width="100%",
        class_name="quote-line",
    )


def _add_line() -> rx.Component:
    return rx.hstack(
        rx.select.root(
            # The prompt is an item of its own, not a placeholder (too faint to read).
            rx.select.trigger(
                aria_label="Add a line from the catalog", id="add-from-catalog", max_width="100%"
            ),
            rx.select.content(
                rx.select.item("Add from the catalog…", value=PROMPT, disabled=True),
                rx.foreach(S.catalog, lambda c: rx.select.item(c["label"], value=c["key"])),
            ),
            value=PROMPT,
            on_change=S.add_line,
        ),
        rx.button(
            rx.icon("plus", size=14),
            "Free-text line",
            variant="soft",
            on_click=S.add_line("free"),
            id="add-free-line",
        ),
        wrap="wrap",
        spacing="3",
        align="center",
    )


def _quote_input(
    key: str, label: str, make: Callable[..., rx.Component] = rx.input, **props: Any
) -> rx.Component:
    return labelled(
        label,
        make(
            value=F[key],
            on_change=lambda v: S.set_field(key, v),
            debounce_timeout=DEBOUNCE_MS,
            aria_label=label,
            id=f"quote-{key}",
            width="100%",
            **props,
        ),
        err(F[f"err_{key}"], f"quote-{key}-error"),
    )


def _quote_kind(key: str, label: str, choices: tuple[tuple[str, str], ...]) -> rx.Component:
    return labelled(
        label,
        kind_select(
            F[key],
            lambda v: S.set_field(key, v),
            choices=choices,
            label=label,
            id=f"quote-{key}",
        ),
        err(F[f"err_{key}"], f"quote-{key}-error"),
    )


def _quote_fields() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("The quote", size="3", as_="h2"),
            rx.grid(
                _quote_kind("discount_kind", "Discount on the quote", KINDS),
                rx.cond(
                    F["discount_kind"] != "none",
                    _quote_input("discount_value", "Quote discount value", input_mode="decimal"),
                ),
                _quote_kind("deposit_kind", "Deposit", DEPOSIT_KINDS),
                rx.cond(
                    F["deposit_kind"] != "none",
                    _quote_input("deposit_value", "Deposit value", input_mode="decimal"),
                ),
                _quote_input("valid_until", "Valid until", type="date"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            _quote_input("message", "Message to the patient", rx.text_area, rows="3"),
            _quote_input("terms", "Terms", rx.text_area, rows="3"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _drafttotals() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Totals", size="3", as_="h2"),
            rx.cond(
                S.amounts.length() > 0,  # type: ignore[attr-defined]
                totals(S.amounts, "draft"),
                rx.text(
                    "Correct the marked fields to see the totals.",
                    size="2",
                    color_scheme="orange",
                    id="draft-totals-pending",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _save_status() -> rx.Component:
    return rx.text(
        rx.cond(S.saving, "Saving…", rx.cond(S.saved_at != "", "Saved " + S.saved_at, "")),
        size="1",
        color_scheme="gray",
        id="save-status",
        role="status",
    )


def _draft_actions() -> rx.Component:
    return rx.hstack(
        rx.cond(
            S.may_send,
            rx.button(
                rx.icon("send", size=14), "Send to patient", on_click=S.ask_send, id="send-quote"
            ),
            rx.text("Owners, managers and providers send quotes.", size="2", color_scheme="gray"),
        ),
        rx.button(
            "Discard draft",
            variant="soft",
            color_scheme="red",
            on_click=S.ask_discard,
            id="discard-draft",
        ),
        wrap="wrap",
        spacing="3",
        align="center",
    )


def editor() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading("Draft, version ", S.draft_version, size="4", as_="h2"),
            _save_status(),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        err(F["err_lines"], "quote-lines-error"),
        rx.foreach(S.lines_view, _line),
        rx.cond(
            S.lines_view.length() == 0,  # type: ignore[attr-defined]
            rx.text(
                "No lines yet: add one from the catalog or as free text.",
                size="2",
                color_scheme="gray",
            ),
        ),
        _add_line(),
        _quote_fields(),
        _drafttotals(),
        _draft_actions(),
        spacing="3",
        width="100%",
        id="quote-editor",
    )


def draft_read_only() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "Version " + S.draft_version.to(str) + " is a draft being prepared; it is not sent.",
            icon="info",
            id="draft-read-only",
        ),
        rx.cond(S.amounts.length() > 0, rx.card(totals(S.amounts, "draft"), width="100%")),  # type: ignore[attr-defined]
        width="100%",
    )
