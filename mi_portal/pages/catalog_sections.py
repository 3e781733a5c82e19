"""The Items and Packages sections of /settings/catalog."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.catalog_parts import (
    csv_card,
    data_table,
    field,
    form_card,
    native_select,
    row_actions,
    state_badge,
    tax_select,
    text_area,
)
from mi_portal.components.fields import bare_checkbox, check_label, error_text
from mi_portal.state.catalog import CatalogState as S

F = S.form


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
    return form_card(
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
            tax_select("item-tax"),
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


def items_tab() -> rx.Component:
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
    return form_card(
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
            tax_select("package-tax"),
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


def packages_tab() -> rx.Component:
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
