"""/settings/clinic/hours: reply and quote targets in business hours, the week, closed days."""

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
from mi_portal.services.sla_settings import MAX_HOURS, MAX_LABEL, MIN_HOURS
from mi_portal.state.clinic_hours import ClinicHoursState as S

DEBOUNCE_MS = 400


def _error(key: str) -> rx.Component:
    return rx.cond(S.errors.contains(key), error_text(S.errors[key], key=key))  # type: ignore[attr-defined]


def _target(
    label: str, key: str, value: rx.Var, handler: rx.EventHandler, hint: str
) -> rx.Component:
    has_error = S.errors.contains(key)  # type: ignore[attr-defined]
    return rx.vstack(
        field_label(label, for_=f"hours-{key}"),
        rx.hstack(
            rx.input(
                type="number",
                min=MIN_HOURS,
                max=MAX_HOURS,
                input_mode="numeric",
                value=value,
                on_change=handler,  # type: ignore[arg-type]
                debounce_timeout=DEBOUNCE_MS,
                disabled=~S.can_manage,
                id=f"hours-{key}",
                width="7em",
                **described(has_error, key, hint_id=f"hint-{key}"),
            ),
            rx.text("business hours", size="2"),
            align="center",
            spacing="2",
        ),
        rx.text(hint, size="1", id=f"hint-{key}"),
        _error(key),
        spacing="1",
        width="18em",
        max_width="100%",
    )


def _targets() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Targets", size="4", as_="h2"),
            rx.flex(
                _target(
                    "First reply to the patient within",
                    "first_response_hours",
                    S.first_hours,
                    S.set_first_hours,  # type: ignore[arg-type]
                    "Met by the clinic's first message on the case.",
                ),
                _target(
                    "Quote sent within",
                    "quote_turnaround_hours",
                    S.quote_hours,
                    S.set_quote_hours,  # type: ignore[arg-type]
                    "The queue's badge turns to due soon with a quarter of this left.",
                ),
                gap="5",
                wrap="wrap",
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _time(day: rx.Var, which: str, words: str) -> rx.Component:
    key = day["key"].to(str)
    return rx.input(
        type="time",
        value=day[which].to(str),
        on_change=lambda v: S.set_day_time(key, which, v),
        debounce_timeout=DEBOUNCE_MS,
        disabled=~S.can_manage | ~day["open"].to(bool),
        aria_label=day["label"].to(str) + words,
        aria_invalid=rx.cond(day["error"].to(str) != "", "true", "false"),
        id="hours-" + key + "-" + which,
        width="8em",
    )


def _day(day: rx.Var) -> rx.Component:
    key = day["key"].to(str)
    has_error = day["error"].to(str) != ""
    return rx.vstack(
        rx.flex(
            rx.box(
                check_label(
                    bare_checkbox(
                        checked=day["open"].to(bool),
                        on_change=lambda v: S.set_day_open(key, v),
                        disabled=~S.can_manage,
                        id="hours-open-" + key,
                    ),
                    day["label"].to(str),
                ),
                min_width="8em",
            ),
            rx.cond(
                day["open"].to(bool),
                rx.hstack(
                    _time(day, "opens", ": opens at"),
                    rx.text("to", size="2", aria_hidden="true"),
                    _time(day, "closes", ": closes at"),
                    align="center",
                    spacing="2",
                ),
                rx.text("Closed", size="2", color_scheme="gray"),
            ),
            align="center",
            gap="3",
            wrap="wrap",
        ),
        rx.cond(
            has_error,
            rx.text(
                day["error"].to(str),
                color_scheme="red",
                size="2",
                role="alert",
                id="error-" + key,
                class_name="field-error",
            ),
        ),
        spacing="1",
        class_name="hours-day",
        width="100%",
    )


def _week() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Opening hours", size="4", as_="h2"),
            rx.text(
                "On the clinic's clock (",
                rx.text.strong(S.timezone, id="hours-timezone"),
                ", set under Profile). Targets count only these hours, and not on closed days. "
                "A day's hours end by midnight: enter a night's later part on the next day.",
                size="2",
            ),
            check_label(
                bare_checkbox(
                    checked=S.every_hour,
                    on_change=S.set_every_hour,  # type: ignore[arg-type]
                    disabled=~S.can_manage,
                    id="hours-every-hour",
                ),
                "Count every hour of every day (no opening hours)",
            ),
            rx.cond(
                ~S.every_hour,
                rx.vstack(rx.foreach(S.days, _day), spacing="2", width="100%"),
            ),
            _error("week"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _closed_day(day: rx.Var) -> rx.Component:
    return rx.hstack(
        rx.text(day["day"].to(str), weight="medium", white_space="nowrap"),
        rx.text(day["label"].to(str), size="2"),
        rx.cond(day["past"].to(bool), rx.badge("Past", color_scheme="gray")),
        rx.spacer(),
        rx.cond(
            S.can_manage,
            rx.button(
                "Remove",
                size="1",
                variant="soft",
                color_scheme="gray",
                on_click=S.remove_closed_day(day["day"].to(str)),
                aria_label="Remove the closed day " + day["day"].to(str),
                class_name="hours-remove-day",
            ),
        ),
        align="center",
        spacing="3",
        width="100%",
        class_name="hours-closed-day",
    )


def _closed_days() -> rx.Component:
    has_error = S.errors.contains("new_day")  # type: ignore[attr-defined]
    return rx.card(
        rx.vstack(
            rx.heading("Closed days", size="4", as_="h2"),
            rx.cond(
                S.closed.length() > 0,  # type: ignore[attr-defined]
                rx.vstack(rx.foreach(S.closed, _closed_day), spacing="2", width="100%"),
                rx.text("No closed days.", size="2", id="hours-no-closed-days"),
            ),
            _error("closed_days"),
            rx.cond(
                S.can_manage,
                rx.vstack(
                    rx.flex(
                        rx.vstack(
                            field_label("Date", for_="hours-new-day"),
                            rx.input(
                                type="date",
                                value=S.new_day,
                                on_change=S.set_new_day,  # type: ignore[arg-type]
                                id="hours-new-day",
                                **described(has_error, "new_day"),
                            ),
                            spacing="1",
                        ),
                        rx.vstack(
                            field_label("Label (optional)", for_="hours-new-label"),
                            rx.input(
                                value=S.new_label,
                                on_change=S.set_new_label,  # type: ignore[arg-type]
                                debounce_timeout=DEBOUNCE_MS,
                                max_length=MAX_LABEL,
                                placeholder="Public holiday",
                                id="hours-new-label",
                            ),
                            spacing="1",
                        ),
                        rx.button(
                            "Add closed day",
                            variant="soft",
                            on_click=S.add_closed_day,
                            id="hours-add-day",
                        ),
                        gap="3",
                        align="end",
                        wrap="wrap",
                    ),
                    _error("new_day"),
                    rx.cond(
                        S.has_past_days,
                        rx.button(
                            "Remove past days",
                            size="1",
                            variant="ghost",
                            on_click=S.ask_prune,
                            id="hours-prune",
                        ),
                    ),
                    spacing="2",
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _actions() -> rx.Component:
    return rx.vstack(
        rx.cond(
            S.preview != "",
            rx.text(S.preview, size="2", id="hours-preview", role="status"),
        ),
        rx.cond(
            S.can_manage,
            rx.hstack(
                rx.button("Save", on_click=S.save, id="hours-save"),
                rx.button(
                    "Discard changes",
                    variant="soft",
                    color_scheme="gray",
                    on_click=S.ask_discard,
                    disabled=~S.dirty,
                    id="hours-discard",
                ),
                spacing="3",
                wrap="wrap",
            ),
            rx.text(
                "Only the clinic's owner changes these settings.", size="2", id="hours-read-only"
            ),
        ),
        spacing="3",
        width="100%",
    )


def _dialogs() -> rx.Component:
    return rx.fragment(
        confirm_dialog(
            "Remove the past closed days?",
            "Closed days before today are deleted from the saved calendar. Open cases keep "
            "their due times; anything you changed and have not saved stays in the form.",
            open=S.confirming == "prune",
            on_confirm=S.prune_past,
            on_cancel=S.cancel_confirm,
            confirm_label="Remove past days",
            confirm_id="confirm-hours-prune",
            cancel_label="Keep them",
        ),
        confirm_dialog(
            "Discard your changes?",
            "Everything changed since the last save goes back to the saved hours and targets.",
            open=S.confirming == "discard",
            on_confirm=S.discard,
            on_cancel=S.cancel_confirm,
            confirm_label="Discard changes",
            confirm_id="confirm-hours-discard",
            cancel_label="Keep editing",
        ),
    )


def clinic_hours_page() -> rx.Component:
    return page_frame(
        settings_tabs("hours"),
        rx.match(
            S.blocked,
            (
                "switch",
                rx.callout(
                    "Clinic settings belong to a clinic. Switch into a clinic to see them.",
                    icon="building_2",
                    id="hours-needs-clinic",
                ),
            ),
            (
                "denied",
                rx.callout(
                    "Only the clinic's owner and managers see the clinic's settings.",
                    icon="info",
                    id="hours-denied",
                ),
            ),
            rx.cond(
                S.loading,
                rx.hstack(rx.spinner(), rx.text("Loading the hours and targets…")),
                rx.vstack(
                    notice_callout(S.notice, id="hours-notice"),
                    error_callout(S.error, id="hours-error"),
                    _targets(),
                    _week(),
                    _closed_days(),
                    _actions(),
                    _dialogs(),
                    spacing="5",
                    width="100%",
                ),
            ),
        ),
        title="Hours and targets",
    )
