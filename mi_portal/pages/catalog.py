"""/settings/catalog: items, packages, tax classes and quote defaults of the clinic."""

from __future__ import annotations

from typing import Any

import reflex as rx

from mi_portal.components.catalog_parts import (
    csv_card,
    data_table,
    field,
    native_select,
    row_actions,
    state_badge,
    text_area,
)
from mi_portal.components.fields import bare_checkbox, check_label, error_text
from mi_portal.components.layout import error_callout, page_frame
from mi_portal.state.catalog import CatalogState as S
from mi_portal.state.catalog_rows import NO_TAX

F = S.form
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


def _tax_select(id: str) -> rx.Component:
    return native_select(
        "Tax class",
        id,
        F["tax_class_id"].to(str),
        lambda v: S.set_field("tax_class_id", v),
        rx.el.option("No tax", value=NO_TAX),
        rx.foreach(S.tax_options, lambda t: rx.el.option(t["label"], value=t["id"])),
        error_key="tax_class_id",
    )


def _form_card(title_new: str, title_edit: str, id: str, *children: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(rx.cond(S.editing != "", title_edit, title_new), size="3", as_="h2"),
            error_callout(S.errors.get("form", ""), id=f"{id}-error"),  # type: ignore[attr-defined]
            *children,
            rx.flex(
                rx.button("Save", on_click=S.save, id=f"{id}-save"),
                rx.cond(
                    S.editing != "",
                    rx.button("Cancel", variant="soft", on_click=S.new, id=f"{id}-cancel"),
                ),
                spacing="3",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id=id,
    )


# --- items -----------------------------------------------------------------------------------


def _item_row(i: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(i["name"], weight="medium", class_name="catalog-item-name"),
            rx.text(i["unit_label"], size="1", color_scheme="gray"),
        ),
        rx.table.cell(i["category"], class_name="col-wide"),
        rx.table.cell(rx.text(i["price_text"], class_name="catalog-item-price")),
        rx.table.cell(i["tax_text"], class_name="col-wide"),
        rx.table.cell(state_badge(i["active"].to(bool))),
        rx.table.cell(row_actions("item", i)),
        class_name="catalog-item",
    )


def _item_filters() -> rx.Component:
    return rx.flex(
        native_select(
            "Show",
            "catalog-show",
            S.show,
            lambda v: S.filter_items("show", v),
            rx.el.option("Active items", value="active"),
            rx.el.option("Inactive items", value="inactive"),
            rx.el.option("All items", value="all"),
        ),
        native_select(
            "Category",
            "catalog-category",
            rx.cond(S.category != "", S.category, "all"),
            lambda v: S.filter_items("category", v),
            rx.el.option("All categories", value="all"),
            rx.foreach(S.categories, lambda c: rx.el.option(c, value=c)),
        ),
        spacing="3",
        wrap="wrap",
    )


def _item_form() -> rx.Component:
    return _form_card(
        "New item",
        "Edit item",
        "item-form",
        field("Name", "item-name", "name", 200),
        rx.grid(
            field("Category", "item-category", "category", 80, hint="Injectables, Skin, Laser …"),
            field("Unit", "item-unit", "unit_label", 40, hint="session, syringe, area …"),
            field(
                rx.text("Price (", S.currency, ", before tax)", as_="span"),
                "item-price",
                "unit_price",
                20,
                input_mode="decimal",
            ),
            _tax_select("item-tax"),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="3",
            width="100%",
        ),
        check_label(
            bare_checkbox(
                checked=F["price_from"].to(bool),
                on_change=lambda v: S.set_field("price_from", v),
                id="item-price-from",
            ),
            "“From” price: the quote sets the final price",
        ),
        text_area("Description", "item-description", "description", 2000),
    )


def _items_tab() -> rx.Component:
    return rx.vstack(
        _item_filters(),
        rx.cond(
            S.items.length() > 0,  # type: ignore[attr-defined]
            data_table(
                "catalog-items",
                "Treatment items",
                ("Item", ""),
                ("Category", "col-wide"),
                ("Price", ""),
                ("Tax", "col-wide"),
                ("State", ""),
                ("Actions", ""),
                body=rx.foreach(S.items, _item_row),
            ),
            rx.callout(
                rx.cond(
                    (S.show == "active") & (S.category == ""),
                    "No items yet. Add the first treatment below, or import a CSV file.",
                    "No items match this filter.",
                ),
                icon="info",
                id="catalog-items-empty",
            ),
        ),
        rx.cond(
            S.page_label != "",
            rx.flex(
                rx.button(
                    "Previous",
                    variant="soft",
                    size="1",
                    disabled=S.page == 0,
                    on_click=S.turn_page(-1),
                    id="catalog-prev",
                ),  # fmt: skip
                rx.text(S.page_label, size="2", id="catalog-page-label"),
                rx.button(
                    "Next",
                    variant="soft",
                    size="1",
                    disabled=~S.has_next,
                    on_click=S.turn_page(1),
                    id="catalog-next",
                ),  # fmt: skip
                spacing="3",
                align="center",
            ),
        ),
        _item_form(),
        csv_card(),
        spacing="4",
        width="100%",
    )


# --- packages --------------------------------------------------------------------------------


def _package_row(p: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(p["name"], weight="medium", class_name="catalog-package-name"),
            rx.text(p["items_text"], size="1", color_scheme="gray"),
        ),
        rx.table.cell(p["price_text"]),
        rx.table.cell(p["tax_text"], class_name="col-wide"),
        rx.table.cell(state_badge(p["active"].to(bool))),
        rx.table.cell(row_actions("package", p)),
        class_name="catalog-package",
    )


def _package_line(line: rx.Var, index: rx.Var) -> rx.Component:
    qty_id = "package-qty-" + index.to(str)
    return rx.flex(
        rx.text(line["name"], size="2", flex="1", min_width="0"),
        rx.input(
            id=qty_id,
            value=line["quantity"].to(str),
            on_change=lambda v: S.set_quantity(index, v),
            input_mode="numeric",
            width="5em",
            aria_label="Quantity of " + line["name"].to(str),
        ),
        rx.button(
            "Remove",
            size="1",
            variant="ghost",
            on_click=S.remove_line(index),
            aria_label="Remove " + line["name"].to(str),
        ),
        align="center",
        spacing="2",
        width="100%",
        class_name="package-line",
    )


def _package_form() -> rx.Component:
    return _form_card(
        "New package",
        "Edit package",
        "package-form",
        field("Name", "package-name", "name", 200),
        rx.grid(
            field(
                rx.text("Package price (", S.currency, ")", as_="span"),
                "package-price",
                "price",
                20,
                input_mode="decimal",
            ),
            _tax_select("package-tax"),
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="3",
            width="100%",
        ),
        rx.vstack(
            rx.text("Items in the package", size="2", weight="medium"),
            rx.foreach(S.package_lines, _package_line),
            native_select(
                "Add an item",
                "package-add-item",
                "",
                S.add_line,
                rx.el.option("Choose an item…", value=""),
                rx.foreach(S.item_options, lambda i: rx.el.option(i["name"], value=i["id"])),
            ),
            rx.cond(S.errors.contains("items"), error_text(S.errors["items"], key="items")),  # type: ignore[attr-defined]
            spacing="2",
            width="100%",
        ),
        text_area("Description", "package-description", "description", 2000),
    )


def _packages_tab() -> rx.Component:
    return rx.vstack(
        rx.cond(
            S.packages.length() > 0,  # type: ignore[attr-defined]
            data_table(
                "catalog-packages",
                "Packages",
                ("Package", ""),
                ("Price", ""),
                ("Tax", "col-wide"),
                ("State", ""),
                ("Actions", ""),
                body=rx.foreach(S.packages, _package_row),
            ),
            rx.callout(
                "No packages yet. A package sells several items at one price.",
                icon="info",
                id="catalog-packages-empty",
            ),
        ),
        _package_form(),
        spacing="4",
        width="100%",
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
                "No tax classes yet. Add one (for example “Standard 20 %”) to tax items.",
                icon="info",
                id="catalog-taxes-empty",
            ),
        ),
        _form_card(
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
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Deactivate “", S.confirm_name, "”?"),
            rx.alert_dialog.description(
                "It will no longer be offered for new quotes and items. Quotes already made "
                "keep their lines. You can reactivate it later."
            ),
            rx.flex(
                rx.alert_dialog.cancel(
                    rx.button("Keep it", variant="soft", on_click=S.cancel_deactivate)
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "Deactivate",
                        color_scheme="red",
                        on_click=S.deactivate,
                        id="confirm-deactivate",
                    )  # fmt: skip
                ),
                spacing="3",
                justify="end",
                margin_top="1em",
            ),
        ),
        open=S.confirm_id != "",
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
                    rx.cond(
                        S.notice != "",
                        rx.callout(
                            S.notice,
                            icon="check",
                            color_scheme="green",
                            role="status",
                            id="catalog-notice",
                        ),  # fmt: skip
                    ),
                    rx.match(
                        S.tab,
                        ("packages", _packages_tab()),
                        ("taxes", _taxes_tab()),
                        ("defaults", _defaults_tab()),
                        _items_tab(),
                    ),
                    _confirm(),
                    spacing="4",
                    width="100%",
                ),
            ),
        ),
        title="Treatment catalog",
    )
