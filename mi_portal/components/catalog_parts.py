"""Pieces of the catalog page: labelled fields with their errors, tables, row actions, the CSV card."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from mi_portal.components.fields import described, error_text, field_label
from mi_portal.components.layout import error_callout
from mi_portal.state.catalog import CatalogState as S
from mi_portal.state.catalog_rows import NO_TAX

CSV_UPLOAD = "catalog-csv"
_SELECT_CLASS = "rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface"


def _error(key: str) -> rx.Component:
    return rx.cond(S.errors.contains(key), error_text(S.errors[key], key=key))  # type: ignore[attr-defined]


def _hint(id: str, hint: str) -> rx.Component:
    return rx.text(hint, size="1", color_scheme="gray", id=f"{id}-hint") if hint else rx.fragment()


def _labelled(
    make: Callable[..., rx.Component],
    label: str | rx.Component,
    id: str,
    key: str,
    max_length: int,
    *,
    hint: str,
    source: Any,
    setter: Callable[..., Any] | None,
    **props: Any,
) -> rx.Component:
    """A control made by ``make`` bound to ``source[key]`` (the form by default), labelled."""
    values = S.form if source is None else source
    change = setter or S.set_field
    return rx.vstack(
        field_label(label, for_=id),
        make(
            id=id,
            value=values[key].to(str),
            on_change=lambda v: change(key, v),
            max_length=max_length,
            width="100%",
            **described(S.errors.contains(key), key, hint_id=f"{id}-hint" if hint else ""),  # type: ignore[attr-defined]
            **props,
        ),
        _hint(id, hint),
        _error(key),
        spacing="1",
        width="100%",
        min_width="0",
    )


def field(
    label: str | rx.Component,
    id: str,
    key: str,
    max_length: int,
    *,
    hint: str = "",
    input_mode: str = "text",
    source: Any = None,
    setter: Callable[..., Any] | None = None,
) -> rx.Component:
    """A one-line input of ``source[key]`` (the form by default) with label, hint and error."""
    return _labelled(
        rx.input,
        label,
        id,
        key,
        max_length,
        hint=hint,
        source=source,
        setter=setter,
        input_mode=input_mode,
    )


def text_area(
    label: str,
    id: str,
    key: str,
    max_length: int,
    *,
    source: Any = None,
    setter: Callable[..., Any] | None = None,
) -> rx.Component:
    """A three-row text area of ``source[key]`` (the form by default) with label and error."""
    return _labelled(
        rx.text_area, label, id, key, max_length, hint="", source=source, setter=setter, rows="3"
    )


def native_select(
    label: str,
    id: str,
    value: Any,
    on_change: Callable[..., Any],
    *options: rx.Component,
    error_key: str = "",
) -> rx.Component:
    """A plain <select> (keyboard and phone friendly) with its label."""
    extra = described(S.errors.contains(error_key), error_key) if error_key else {}  # type: ignore[attr-defined]
    return rx.vstack(
        field_label(label, for_=id),
        rx.el.select(
            *options,
            id=id,
            value=value,
            on_change=on_change,
            class_name=_SELECT_CLASS,
            style={"width": "100%", "max_width": "100%"},
            **extra,
        ),
        _error(error_key) if error_key else rx.fragment(),
        spacing="1",
        width="100%",
        min_width="0",
    )


def state_badge(active: rx.Var[bool]) -> rx.Component:
    return rx.cond(
        active, rx.badge("Active", color_scheme="green"), rx.badge("Inactive", color_scheme="gray")
    )


def _row_button(label: str, kind: str, name: rx.Var, on_click: Any, **props: Any) -> rx.Component:
    return rx.button(
        label,
        size="1",
        variant="soft",
        on_click=on_click,
        aria_label=label + " " + name,
        class_name=f"{kind}-{label.lower()}",
        **props,
    )


def row_actions(kind: str, row: rx.Var) -> rx.Component:
    rid, name = row["id"].to(str), row["name"].to(str)
    return rx.flex(
        _row_button("Edit", kind, name, S.edit(kind, rid)),
        rx.cond(
            row["active"].to(bool),
            _row_button("Deactivate", kind, name, S.ask_deactivate(kind, rid), color_scheme="red"),
            _row_button("Reactivate", kind, name, S.reactivate(kind, rid)),
        ),
        spacing="2",
        wrap="wrap",
    )


def data_table(id: str, label: str, *headers: tuple[str, str], body: rx.Component) -> rx.Component:
    """A table that scrolls sideways inside its own (focusable) region on a narrow phone."""
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(*[rx.table.column_header_cell(h, class_name=c) for h, c in headers])
            ),
            rx.table.body(body),
            width="100%",
            size="1",
            id=id,
            class_name="catalog-table",
        ),
        role="region",
        aria_label=label,
        tab_index=0,
        overflow_x="auto",
        width="100%",
    )


def csv_card() -> rx.Component:
    upload = rx.upload(
        rx.text("Drop a CSV file here or click to choose one (at most 1 MB, 2,000 rows)", size="2"),
        id=CSV_UPLOAD,
        accept={"text/csv": [".csv"]},
        max_files=1,
        multiple=False,
        on_drop=S.import_csv(rx.upload_files(upload_id=CSV_UPLOAD)),  # type: ignore[call-arg]
        border="1px dashed var(--gray-a7)",
        padding="0.75em",
        width="100%",
        cursor="pointer",
    )
    upload.children[0].children[0].id = "catalog-csv-input"
    return rx.card(
        rx.vstack(
            rx.heading("Import and export", size="3", as_="h2"),
            rx.text(
                "Columns: name, description, category, unit_label, unit_price, price_from, "
                "tax_class, active. Items are matched by name: new names are added, known ones "
                "updated. If any line has a problem, nothing is imported.",
                size="2",
            ),
            field_label("Import items from CSV", for_="catalog-csv-input"),
            upload,
            rx.cond(
                S.import_errors.length() > 0,  # type: ignore[attr-defined]
                rx.box(
                    rx.text("Nothing was imported. Fix these lines and try again:", weight="bold"),
                    rx.el.ul(
                        rx.foreach(
                            S.import_errors, lambda e: rx.el.li(e, class_name="import-error")
                        ),
                        style={"margin": "0.5em 0 0 1.2em"},
                    ),
                    rx.cond(S.import_more > 0, rx.text("… and ", S.import_more, " more.")),
                    role="alert",
                    id="catalog-import-errors",
                    color="var(--red-11)",
                    background="var(--red-a3)",
                    padding="0.75em",
                    border_radius="var(--radius-3)",
                    width="100%",
                ),
            ),
            rx.button(
                rx.icon("download", size=16, aria_hidden="true"),
                "Export items as CSV",
                variant="soft",
                on_click=S.export_csv,
                id="catalog-export",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="catalog-csv-card",
    )


def tax_select(id: str) -> rx.Component:
    return native_select(
        "Tax class",
        id,
        S.form["tax_class_id"].to(str),
        lambda v: S.set_field("tax_class_id", v),
        rx.el.option("No tax", value=NO_TAX),
        rx.foreach(S.tax_options, lambda t: rx.el.option(t["label"], value=t["id"])),
        error_key="tax_class_id",
    )


def form_card(title_new: str, title_edit: str, id: str, *children: rx.Component) -> rx.Component:
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
