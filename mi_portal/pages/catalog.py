"""/settings/catalog: items, packages, tax classes and quote defaults of the clinic."""

from __future__ import annotations

from typing import Any

import reflex as rx

from mi_portal.components.catalog_parts import (
    data_table,
    field,
    form_card,
    row_actions,
    state_badge,
    text_area,
)
from mi_portal.components.layout import confirm_dialog, error_callout, notice_callout, page_frame
from mi_portal.pages.catalog_sections import items_tab, packages_tab
from mi_portal.state.catalog import CatalogState as S

_TAB_NAMES = (
    ("items", "Items"),
    ("packages", "Packages"),
    ("taxes", "Tax classes"),
    ("defaults", "Quote defaults"),
)


def _tabs() -> rx.Component:
    return rx.el.nav(
        rx.flex(
            *[
                rx.link(
                    label,
                    href=f"/settings/catalog?tab={key}",
                    id=f"catalog-tab-{key}",
                    aria_current=rx.cond(S.tab == key, "page", "false"),
                    weight=rx.cond(S.tab == key, "bold", "regular"),
                    underline=rx.cond(S.tab == key, "always", "hover"),
                    size="3",
                )
                for key, label in _TAB_NAMES
            ],
            spacing="4",
            wrap="wrap",
        ),
        aria_label="Catalog sections",
    )


# --- tax classes -----------------------------------------------------------------------------


def _tax_row(t: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(t["name"], weight="medium", class_name="catalog-tax-name")),
        rx.table.cell(t["rate_text"]),
        rx.table.cell(state_badge(t["active"].to(bool))),
        rx.table.cell(row_actions("tax", t)),
        class_name="catalog-tax",
    )


def _taxes_tab() -> rx.Component:
    return rx.vstack(
        rx.cond(
            S.taxes.length() > 0,  # type: ignore[attr-defined]
            data_table(
                "catalog-taxes",
                "Tax classes",
                ("Tax class", ""),
                ("Rate", ""),
                ("State", ""),
                ("Actions", ""),
                body=rx.foreach(S.taxes, _tax_row),
            ),
            rx.callout(
                "No tax classes yet. Add one (for example “Standard rate”, 20 %) to tax items.",
                icon="info",
                id="catalog-taxes-empty",
            ),
        ),
        form_card(
            "New tax class",
            "Edit tax class",
            "tax-form",
            field("Name", "tax-name", "name", 80),
            field("Rate (%)", "tax-rate", "rate", 12, input_mode="decimal", hint="0 to 100"),
        ),
        spacing="4",
        width="100%",
    )


# --- quote defaults --------------------------------------------------------------------------


def _defaults_tab() -> rx.Component:
    d: Any = S.defaults
    return rx.card(
        rx.vstack(
            rx.heading("Quote defaults", size="3", as_="h2"),
            error_callout(S.errors.get("form", ""), id="defaults-error"),  # type: ignore[attr-defined]
            rx.grid(
                field(
                    "Currency",
                    "defaults-currency",
                    "currency",
                    3,
                    source=d,
                    setter=S.set_default,
                    hint="Three-letter code: USD, EUR, GBP …",
                ),  # fmt: skip
                field(
                    "Locale",
                    "defaults-locale",
                    "locale",
                    16,
                    source=d,
                    setter=S.set_default,
                    hint="How money is written: en_US, de_DE, fr_CH …",
                ),  # fmt: skip
                field(
                    "Quotes valid for (days)",
                    "defaults-days",
                    "quote_valid_days",
                    3,
                    source=d,
                    setter=S.set_default,
                    input_mode="numeric",
                ),  # fmt: skip
                columns=rx.breakpoints(initial="1", sm="3"),
                spacing="3",
                width="100%",
            ),
            text_area(
                "Standard terms",
                "defaults-terms",
                "quote_terms",
                4000,
                source=d,
                setter=S.set_default,
            ),  # fmt: skip
            rx.text(
                "Changing the currency does not convert prices: every item is then priced in the "
                "new currency with the same amount.",
                size="1",
                color_scheme="gray",
            ),
            rx.button("Save defaults", on_click=S.save_defaults, id="defaults-save"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="defaults-form",
    )


def _confirm() -> rx.Component:
    return confirm_dialog(
        ("Deactivate “", S.confirm_name, "”?"),
        "It will no longer be offered for new quotes and items. Quotes already made "
        "keep their lines. You can reactivate it later.",
        open=S.confirm_id != "",
        on_confirm=S.deactivate,
        on_cancel=S.cancel_deactivate,
        confirm_label="Deactivate",
        confirm_id="confirm-deactivate",
        cancel_label="Keep it",
    )


def catalog_page() -> rx.Component:
    return page_frame(
        rx.el.style(" @media (max-width: 720px) { .catalog-table .col-wide { display: none; } }"),
        rx.match(
            S.blocked,
            (
                "switch",
                rx.callout(
                    "The catalog belongs to a clinic. Switch into a clinic to manage it.",
                    icon="building_2",
                    id="catalog-needs-clinic",
                ),
            ),
            (
                "denied",
                rx.callout(
                    "Only the clinic's owner and managers manage the treatment catalog.",
                    icon="info",
                    id="catalog-denied",
                ),
            ),
            rx.cond(
                S.loading,
                rx.hstack(rx.spinner(), rx.text("Loading the catalog…")),
                rx.vstack(
                    _tabs(),
                    notice_callout(S.notice, id="catalog-notice"),
                    rx.match(
                        S.tab,
                        ("packages", packages_tab()),
                        ("taxes", _taxes_tab()),
                        ("defaults", _defaults_tab()),
                        items_tab(),
                    ),
                    _confirm(),
                    spacing="4",
                    width="100%",
                ),
            ),
        ),
        title="Treatment catalog",
    )
