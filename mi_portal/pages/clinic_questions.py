"""/settings/clinic/questions: the clinic's own intake questions, per concern area."""

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
from mi_portal.components.settings_tabs import settings_tabs
from mi_portal.services.intake_questions import MAX_HELP, MAX_PER_AREA, MAX_TEXT
from mi_portal.state.clinic_questions import AREA_OPTIONS
from mi_portal.state.clinic_questions import ClinicQuestionsState as S

F = S.form


def _has(key: str) -> rx.Var:
    return S.errors.contains(key)  # type: ignore[attr-defined]


def _error(key: str) -> rx.Component:
    return rx.cond(_has(key), error_text(S.errors[key], key=f"question-{key}"))


def _area_picker() -> rx.Component:
    return rx.vstack(
        field_label("Concern area", for_="question-area"),
        rx.select.root(
            rx.select.trigger(id="question-area", min_width="14em"),
            rx.select.content(
                *[rx.select.item(o["label"], value=o["value"]) for o in AREA_OPTIONS]
            ),
            value=S.area,
            on_change=S.choose_area,
        ),
        rx.text(S.order_text, size="2", color_scheme="gray", id="question-order"),
        spacing="1",
        width="100%",
    )


def _question(q: rx.Var) -> rx.Component:
    qid = q["id"].to(str)
    text = q["text"].to(str)
    return rx.el.li(
        rx.vstack(
            rx.flex(
                rx.text(text, weight="medium", class_name="question-text"),
                rx.cond(
                    q["required"].to(bool),
                    rx.badge("Required", color_scheme="blue", class_name="question-required"),
                ),
                spacing="2",
                align="center",
                wrap="wrap",
            ),
            rx.cond(
                q["help_text"].to(str) != "",
                rx.text(q["help_text"].to(str), size="1", color_scheme="gray"),
            ),
            rx.cond(
                S.can_manage,
                rx.flex(
                    rx.button(
                        rx.icon("arrow_up", size=14, aria_hidden="true"),
                        "Up",
                        size="1",
                        variant="soft",
                        disabled=q["first"].to(bool),
                        on_click=S.move(qid, -1),
                        aria_label="Move up: " + text,
                        class_name="question-up",
                    ),
                    rx.button(
                        rx.icon("arrow_down", size=14, aria_hidden="true"),
                        "Down",
                        size="1",
                        variant="soft",
                        disabled=q["last"].to(bool),
                        on_click=S.move(qid, 1),
                        aria_label="Move down: " + text,
                        class_name="question-down",
                    ),
                    rx.button(
                        "Retire",
                        size="1",
                        variant="soft",
                        color_scheme="red",
                        on_click=S.ask_retire(qid),
                        aria_label="Retire: " + text,
                        class_name="question-retire",
                    ),
                    spacing="2",
                    wrap="wrap",
                ),
            ),
            spacing="1",
            width="100%",
        ),
        class_name="question-row",
        style={"padding": "0.5em 0", "border_bottom": "1px solid var(--gray-a5)"},
    )


def _active() -> rx.Component:
    return rx.vstack(
        rx.heading("Asked", size="4", as_="h2"),
        rx.cond(
            S.active.length() > 0,  # type: ignore[attr-defined]
            rx.el.ol(
                rx.foreach(S.active, _question),
                id="questions-list",
                style={"padding_left": "1.5em", "margin": 0, "width": "100%"},
            ),
            rx.callout(S.empty_text, icon="info", id="questions-empty"),
        ),
        spacing="2",
        width="100%",
    )


def _retired_row(q: rx.Var) -> rx.Component:
    text = q["text"].to(str)
    return rx.el.li(
        rx.flex(
            rx.text(text, color_scheme="gray", class_name="question-text"),
            rx.text("retired ", q["retired_at"].to(str), size="1", color_scheme="gray"),
            rx.cond(
                S.can_manage,
                rx.button(
                    "Restore",
                    size="1",
                    variant="soft",
                    on_click=S.restore(q["id"].to(str)),
                    aria_label="Restore: " + text,
                    class_name="question-restore",
                ),
            ),
            spacing="2",
            align="center",
            wrap="wrap",
        ),
        class_name="retired-row",
        style={"padding": "0.25em 0"},
    )


def _retired() -> rx.Component:
    return rx.cond(
        S.retired.length() > 0,  # type: ignore[attr-defined]
        rx.vstack(
            rx.heading("Retired", size="4", as_="h2"),
            rx.text(
                "No longer asked. Past cases keep these questions with their answers.",
                size="2",
                color_scheme="gray",
            ),
            rx.el.ul(
                rx.foreach(S.retired, _retired_row),
                id="questions-retired",
                style={"padding_left": "1.5em", "margin": 0, "width": "100%"},
            ),
            spacing="2",
            width="100%",
        ),
    )


def _line(key: str, label: str, max_length: int, hint: str) -> rx.Component:
    hint_id = f"question-{key}-hint"
    return rx.vstack(
        field_label(label, for_=f"question-{key}"),
        rx.input(
            id=f"question-{key}",
            value=F[key].to(str),
            on_change=lambda v: S.set_field(key, v),
            max_length=max_length,
            width="100%",
            **described(_has(key), f"question-{key}", hint_id=hint_id),
        ),
        rx.text(hint, size="1", color_scheme="gray", id=hint_id),
        _error(key),
        spacing="1",
        width="100%",
    )


def _add_form() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Add a question", size="3", as_="h2"),
            _line(
                "text",
                "Question",
                MAX_TEXT,
                f"As the patient will read it; 3 to {MAX_TEXT} characters. "
                f"At most {MAX_PER_AREA} questions per area.",
            ),
            _line("help_text", "Help text (optional)", MAX_HELP, "Shown under the question."),
            check_label(
                bare_checkbox(
                    checked=F["required"].to(bool),
                    on_change=lambda v: S.set_field("required", v),
                    id="question-required",
                ),
                "Patients must answer it",
            ),
            rx.button("Add question", on_click=S.add, id="question-add"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="question-form",
    )


def _confirm() -> rx.Component:
    return confirm_dialog(
        "Retire this question?",
        (
            "“",
            S.confirm_text,
            "” will no longer be asked. Cases already sent keep it with their answers; you can "
            "restore it later.",
        ),
        open=S.confirm_id != "",
        on_confirm=S.retire,
        on_cancel=S.cancel_retire,
        confirm_label="Retire",
        confirm_id="confirm-retire",
        cancel_label="Keep it",
    )


def clinic_questions_page() -> rx.Component:
    return page_frame(
        settings_tabs("questions"),
        rx.match(
            S.blocked,
            (
                "switch",
                rx.callout(
                    "Intake questions belong to a clinic. Switch into a clinic to see them.",
                    icon="building_2",
                    id="questions-needs-clinic",
                ),
            ),
            (
                "denied",
                rx.callout(
                    "Only the clinic's owner and managers see the clinic's settings.",
                    icon="info",
                    id="questions-denied",
                ),
            ),
            rx.cond(
                S.loading,
                rx.hstack(rx.spinner(), rx.text("Loading the questions…")),
                rx.vstack(
                    rx.text(
                        "Questions patients answer on your clinic's own consultation page, by "
                        "the concern they choose. Patients who send photos to several clinics "
                        "at once answer the standard questions.",
                        size="2",
                    ),
                    rx.cond(
                        ~S.can_manage,
                        rx.callout(
                            "You can see the questions; only the clinic's owner can change them.",
                            icon="eye",
                            id="questions-read-only",
                        ),
                    ),
                    _area_picker(),
                    notice_callout(S.notice, id="questions-notice"),
                    error_callout(S.errors.get("form", ""), id="questions-error"),  # type: ignore[attr-defined]
                    _active(),
                    rx.cond(S.can_manage, _add_form()),
                    _retired(),
                    _confirm(),
                    spacing="4",
                    width="100%",
                ),
            ),
        ),
        title="Intake questions",
    )
