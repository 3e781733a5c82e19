"""The pieces every section of /settings/clinic is made of: a field with its own error, and a
section that saves on its own."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import described, error_text, field_label
from mi_portal.components.layout import notice_callout
from mi_portal.state.clinic_settings import ClinicSettingsState as S


def has_error(key: str) -> rx.Var:
    return S.errors.contains(key)  # type: ignore[attr-defined]


def error(key: str) -> rx.Component:
    return rx.cond(has_error(key), error_text(S.errors[key], key=key))


def text_field(
    label: str,
    name: str,
    *,
    type_: str = "text",
    hint: str = "",
    autocomplete: str = "off",
    multiline: bool = False,
) -> rx.Component:
    hint_id = f"hint-{name}" if hint else ""
    props = {
        "id": name,
        "name": name,
        # Remounted with the saved (normalised) value after each save; typed text stays on error.
        "key": name + "-" + S.revision.to_string(),
        "default_value": getattr(S, name),
        "on_blur": lambda value: S.set_field(name, value),
        "disabled": ~S.can_manage,
        "width": "100%",
        **described(has_error(name), name, hint_id=hint_id),
    }
    control = (
        rx.text_area(rows="3", **props)
        if multiline
        else rx.input(type=type_, auto_complete=autocomplete, **props)
    )
    return rx.vstack(
        field_label(label, for_=name),
        control,
        rx.text(hint, size="1", color_scheme="gray", id=hint_id) if hint else rx.fragment(),
        error(name),
        spacing="1",
        width="100%",
    )


def section(title: str, key: str, *children: rx.Component, save: object = None) -> rx.Component:
    """One section: its heading, its fields, its success notice and (as a form) its own Save."""
    body = rx.vstack(
        rx.heading(title, as_="h2", size="4"),
        *children,
        rx.cond(
            S.notices.contains(key),  # type: ignore[attr-defined]
            notice_callout(S.notices[key].to(str), id=f"notice-{key}"),
        ),
        rx.cond(S.can_manage, rx.button("Save", type="submit", id=f"save-{key}"))
        if save is not None
        else rx.fragment(),
        spacing="3",
        width="100%",
    )
    if save is not None:
        body = rx.el.form(body, on_submit=save, prevent_default=True, aria_label=title)
    return rx.card(body, width="100%", id=f"section-{key}")
