"""Form pieces that tie labels, hints and errors to their controls for assistive technology."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import reflex as rx
from reflex.components.radix.themes.components.checkbox import Checkbox
from reflex.vars import Var

# A native <select> dressed as a Radix select trigger: keyboard, phone pickers and forms just work.
NATIVE_SELECT = "rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface"
_LABEL_STYLE = {"font_size": "var(--font-size-2)", "font_weight": "500"}


def field_label(*children: rx.Component | str | Var, for_: str, id: str = "") -> rx.Component:
    """A real <label for=…> (Radix Text drops ``html_for`` into its CSS instead)."""
    extra = {"id": id} if id else {}
    return rx.el.label(*children, html_for=for_, style=_LABEL_STYLE, **extra)


def bare_checkbox(**props: Any) -> rx.Component:
    """The checkbox alone: ``rx.checkbox`` wraps itself in a label of its own (empty here)."""
    return Checkbox.create(**props)


def check_label(control: rx.Component, *text: Any, class_name: str = "") -> rx.Component:
    """A label wrapping a checkbox and its words, so clicking the words toggles it."""
    return rx.el.label(
        control,
        rx.text(*text, as_="span", size="2"),
        class_name=class_name,
        style={"display": "flex", "gap": "0.5em", "align_items": "start", "cursor": "pointer"},
    )


def error_text(message: Var, *, key: str) -> rx.Component:
    """The error of one field, announced when it appears; ``error-<key>`` is what describes it."""
    return rx.text(
        message,
        color_scheme="red",
        size="2",
        class_name="field-error",
        id=f"error-{key}",
        role="alert",
    )


def described(has_error: Var, key: str, *, hint_id: str = "") -> dict[str, Any]:
    """aria-invalid and aria-describedby for a control whose error is ``error-<key>``."""
    with_error = f"{hint_id} error-{key}".strip()
    return {
        "aria_invalid": rx.cond(has_error, "true", "false"),
        "aria_describedby": rx.cond(has_error, with_error, hint_id),
    }


def focus_first(selectors: Sequence[str]) -> rx.event.EventSpec:
    """Move focus to the first of these (fixed, server-side) CSS selectors found on the page."""
    return rx.call_script(
        "(() => { for (const s of "
        + json.dumps(list(selectors))
        + ") { const e = document.querySelector(s); if (e) { e.focus(); "
        + "e.scrollIntoView({block: 'center'}); return; } } })()"
    )
