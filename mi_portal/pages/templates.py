"""/settings/templates: list, create, edit, retire and reactivate the clinic's templates."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import (
    bare_checkbox,
    check_label,
    described,
    error_text,
    field_label,
)
from mi_portal.components.layout import confirm_dialog, error_callout, notice_callout, page_frame
from mi_portal.state.templates import TemplatesState as S

F = S.form


def _error(key: str) -> rx.Component:
    return rx.cond(S.errors.contains(key), error_text(S.errors[key], key=key))  # type: ignore[attr-defined]


def _has(key: str) -> rx.Var:
    return S.errors.contains(key)  # type: ignore[attr-defined]


def _variables() -> rx.Component:
    return rx.box(
        rx.text("Variables you can use:", size="1", color_scheme="gray"),
        rx.flex(
            rx.foreach(S.variables, lambda v: rx.code(v, size="1")),
            spacing="2",
            wrap="wrap",
        ),
        id="template-variables",
    )


def _line(key: str, label: str, max_length: int) -> rx.Component:
    """A one-line field of the form with its label and its error."""
    return rx.vstack(
        field_label(label, for_=f"template-{key}"),
        rx.input(
            id=f"template-{key}",
            value=F[key].to(str),
            on_change=lambda v: S.set_field(key, v),
            max_length=max_length,
            width="100%",
            **described(_has(key), key),
        ),  # fmt: skip
        _error(key),
        spacing="1",
        width="100%",
    )


def _form() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(
                rx.cond(S.editing_id != "", "Edit template", "New template"), size="3", as_="h2"
            ),
            error_callout(S.errors.get("form", ""), id="template-form-error"),  # type: ignore[attr-defined]
            _line("name", "Name", 100),
            rx.vstack(
                field_label("Channel", for_="template-channel"),
                rx.select.root(
                    rx.select.trigger(id="template-channel"),
                    rx.select.content(
                        rx.select.item("Email", value="email"),
                        rx.select.item("Text message", value="sms"),
                    ),
                    value=F["channel"].to(str),
                    on_change=lambda v: S.set_field("channel", v),
                ),
                _error("channel"),
                spacing="1",
            ),
            rx.cond(
                F["channel"].to(str) == "email",
                _line("subject", "Subject", 200),
            ),
            rx.vstack(
                field_label("Message", for_="template-body"),
                rx.text_area(
                    id="template-body",
                    value=F["body"].to(str),
                    on_change=lambda v: S.set_field("body", v),
                    rows="8",
                    width="100%",
                    max_length=5_000,
                    **described(_has("body"), "body", hint_id="template-variables"),
                ),  # fmt: skip
                _variables(),
                _error("body"),
                spacing="1",
                width="100%",
            ),
            check_label(
                bare_checkbox(
                    checked=F["marketing"].to(bool),
                    on_change=lambda v: S.set_field("marketing", v),
                    id="template-marketing",
                ),
                "Marketing (sent only to patients who agreed to marketing)",
            ),
            rx.flex(
                rx.button("Save template", on_click=S.save, id="template-save"),
                rx.cond(
                    S.editing_id != "",
                    rx.button("Cancel", variant="soft", on_click=S.new, id="template-cancel"),
                ),
                spacing="3",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="template-form",
    )


def _row(t: rx.Var) -> rx.Component:
    tid = t["id"].to(str)
    return rx.table.row(
        rx.table.cell(rx.text(t["name"], weight="medium", class_name="template-name")),
        rx.table.cell(rx.cond(t["channel"] == "sms", "Text message", "Email")),
        rx.table.cell(rx.cond(t["marketing"].to(bool), "Marketing", "—"), class_name="col-wide"),
        rx.table.cell(
            rx.cond(
                t["active"].to(bool),
                rx.badge("Active", color_scheme="green"),
                rx.badge("Retired", color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.flex(
                rx.button(
                    "Edit",
                    size="1",
                    variant="soft",
                    on_click=S.edit(tid),
                    aria_label="Edit " + t["name"].to(str),
                ),  # fmt: skip
                rx.cond(
                    t["active"].to(bool),
                    rx.button(
                        "Retire",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=S.ask_retire(tid),
                        aria_label="Retire " + t["name"].to(str),
                        class_name="template-retire",
                    ),  # fmt: skip
                    rx.button(
                        "Reactivate",
                        size="1",
                        variant="soft",
                        on_click=S.reactivate(tid),
                        aria_label="Reactivate " + t["name"].to(str),
                        class_name="template-reactivate",
                    ),  # fmt: skip
                ),
                spacing="2",
                wrap="wrap",
            )
        ),
        class_name="template-row",
    )


def _list() -> rx.Component:
    return rx.cond(
        S.templates.length() > 0,  # type: ignore[attr-defined]
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Name"),
                    rx.table.column_header_cell("Channel"),
                    rx.table.column_header_cell("Kind", class_name="col-wide"),
                    rx.table.column_header_cell("State"),
                    rx.table.column_header_cell("Actions"),
                )
            ),
            rx.table.body(rx.foreach(S.templates, _row)),
            width="100%",
            size="1",
            id="templates-table",
        ),
        rx.callout(
            "No templates yet. Write the first one below.", icon="info", id="templates-empty"
        ),
    )


def _confirm() -> rx.Component:
    return confirm_dialog(
        "Retire this template?",
        (
            "“",
            S.confirm_name,
            "” will no longer be offered when writing to patients. ",
            "Messages already sent keep their text. You can reactivate it later.",
        ),
        open=S.confirm_id != "",
        on_confirm=S.retire,
        on_cancel=S.cancel_retire,
        confirm_label="Retire",
        confirm_id="confirm-retire",
        cancel_label="Keep it",
    )


def templates_page() -> rx.Component:
    return page_frame(
        rx.el.style(" @media (max-width: 720px) { #templates-table .col-wide { display: none; } }"),
        rx.match(
            S.blocked,
            (
                "switch",
                rx.callout(
                    "Templates belong to a clinic. Switch into a clinic to manage them.",
                    icon="building_2",
                    id="templates-needs-clinic",
                ),
            ),
            (
                "denied",
                rx.callout(
                    "Only the clinic's owner and managers manage message templates.",
                    icon="info",
                    id="templates-denied",
                ),
            ),
            rx.cond(
                S.loading,
                rx.hstack(rx.spinner(), rx.text("Loading templates…")),
                rx.vstack(
                    notice_callout(S.notice, id="templates-notice"),
                    _list(),
                    _form(),
                    _confirm(),
                    spacing="4",
                    width="100%",
                ),
            ),
        ),
        title="Message templates",
    )
