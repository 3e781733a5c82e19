"""/settings/retention: how long the clinic keeps each kind of data, its history and its sweeps."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.layout import confirm_dialog, error_callout, notice_callout, page_frame
from mi_portal.state.retention import RetentionState as S

DEBOUNCE_MS = 500
_SELECT_CLASS = "rt-reset rt-SelectTrigger rt-r-size-2 rt-variant-surface"


def _days(row: rx.Var) -> rx.Component:
    category, label = row["category"].to(str), row["label"].to(str)
    has_error = row["error"].to(str) != ""
    return rx.vstack(
        rx.input(
            type="number",
            min=1,
            max=36_500,
            input_mode="numeric",
            value=row["days"].to(str),
            on_change=lambda v: S.set_days(category, v),
            debounce_timeout=DEBOUNCE_MS,
            disabled=~S.can_manage,
            aria_label=label + ": days kept",
            aria_invalid=rx.cond(has_error, "true", "false"),
            aria_describedby=rx.cond(has_error, "retention-error-" + category, ""),
            id="retention-days-" + category,
            width="7em",
        ),
        rx.cond(
            has_error,
            rx.text(
                row["error"].to(str),
                color_scheme="red",
                size="1",
                role="alert",
                id="retention-error-" + category,
                class_name="retention-error",
            ),
        ),
        spacing="1",
        min_width="0",
    )


def _action(row: rx.Var) -> rx.Component:
    category, label = row["category"].to(str), row["label"].to(str)
    return rx.cond(
        row["single"].to(bool),
        rx.text(row["action_label"].to(str), size="2", id="retention-action-" + category),
        rx.el.select(
            rx.foreach(
                row["actions"].to(list[dict[str, str]]),
                lambda a: rx.el.option(a["label"], value=a["value"]),
            ),
            value=row["action"].to(str),
            on_change=lambda v: S.set_action(category, v),
            disabled=~S.can_manage,
            aria_label=label + ": then",
            id="retention-action-" + category,
            class_name=_SELECT_CLASS,
            style={"max_width": "100%"},
        ),
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.hstack(
                    rx.text(row["label"].to(str), weight="medium"),
                    rx.cond(
                        row["default"].to(bool),
                        rx.badge("Default", color_scheme="gray", class_name="retention-default"),
                    ),
                    spacing="2",
                    align="center",
                    wrap="wrap",
                ),
                rx.text(row["holds"].to(str), size="1", color_scheme="gray"),
                spacing="1",
                min_width="0",
            )
        ),
        rx.table.cell(_days(row)),
        rx.table.cell(_action(row)),
        class_name="retention-row",
        id="retention-row-" + row["category"].to(str),
    )


def _settings() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Each kind of data of a case is kept for this many days after the case's last "
            "activity (a status change, a message, a quote or a note), then deleted or "
            "de-identified by the next run. De-identified records keep only what the clinic's "
            "figures need: concern area, status, quote totals and months.",
            size="2",
        ),
        rx.cond(
            ~S.can_manage,
            rx.callout(
                "You can see these settings; only the clinic's owner can change them.",
                icon="eye",
                id="retention-read-only",
            ),
        ),
        rx.box(
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Data"),
                        rx.table.column_header_cell("Keep for (days)"),
                        rx.table.column_header_cell("Then"),
                    )
                ),
                rx.table.body(rx.foreach(S.lines, _row)),
                width="100%",
                size="1",
                id="retention-table",
            ),
            role="region",
            aria_label="Retention periods",
            tab_index=0,
            overflow_x="auto",
            width="100%",
        ),
        rx.cond(
            S.preview != "",
            rx.callout(
                rx.text(
                    S.preview,
                    rx.cond(S.dirty, " (with the changes above, not saved yet)", ""),
                ),
                icon="calendar_clock",
                color_scheme=rx.cond(S.dirty, "amber", "blue"),
                role="status",
                id="retention-preview",
                width="100%",
            ),
        ),
        rx.cond(
            S.can_manage,
            rx.flex(
                rx.button("Save", on_click=S.ask_save, id="retention-save"),
                rx.cond(
                    S.dirty,
                    rx.button(
                        "Discard changes",
                        variant="soft",
                        on_click=S.discard,
                        id="retention-discard",
                    ),
                ),
                spacing="3",
            ),
        ),
        spacing="3",
        width="100%",
    )


def _history_entry(entry: rx.Var) -> rx.Component:
    return rx.box(
        rx.text(entry["at"].to(str), " · ", entry["who"].to(str), size="1", color_scheme="gray"),
        rx.el.ul(
            rx.foreach(
                entry["lines"].to(list[str]),
                lambda line: rx.el.li(rx.text(line, size="2")),
            ),
            style={"margin": "0.25em 0 0 1.2em", "padding": 0},
        ),
        class_name="retention-history-entry",
    )


def _history() -> rx.Component:
    return rx.vstack(
        rx.heading("History of changes", size="4", as_="h2"),
        rx.cond(
            S.history.length() > 0,  # type: ignore[attr-defined]
            rx.vstack(rx.foreach(S.history, _history_entry), spacing="3", width="100%"),
            rx.text(
                "No changes yet: the clinic uses the defaults.",
                size="2",
                color_scheme="gray",
                id="retention-history-empty",
            ),
        ),
        spacing="2",
        width="100%",
        id="retention-history",
    )


def _run(run: rx.Var) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.vstack(
                rx.text(
                    run["trigger"],
                    " · started ",
                    run["started"],
                    ", finished ",
                    run["finished"],
                    size="2",
                    weight="medium",
                ),  # fmt: skip
                rx.text(run["counts"], size="2", color_scheme="gray"),
                spacing="1",
                min_width="0",
            ),
            rx.button(
                rx.icon("download", size=14, aria_hidden="true"),
                "Download proof",
                size="1",
                variant="soft",
                on_click=S.download_proof(run["id"]),
                aria_label="Download the proof of the run started " + run["started"],
                class_name="retention-proof",
            ),
            justify="between",
            align="center",
            gap="3",
            wrap="wrap",
            width="100%",
        ),
        width="100%",
        class_name="retention-run",
    )


def _runs() -> rx.Component:
    return rx.vstack(
        rx.heading("Runs", size="4", as_="h2"),
        rx.text(
            "Each run's proof lists what it removed per category, with hashed case ids and "
            "times; downloading it is recorded in the audit log.",
            size="2",
        ),
        rx.cond(
            S.runs.length() > 0,  # type: ignore[attr-defined]
            rx.vstack(rx.foreach(S.runs, _run), spacing="2", width="100%"),
            rx.text("No runs yet.", size="2", color_scheme="gray", id="retention-runs-empty"),
        ),
        spacing="2",
        width="100%",
        id="retention-runs",
    )


def _confirm() -> rx.Component:
    return confirm_dialog(
        "Save the retention settings?",
        rx.text(
            S.preview,
            ". Data past its period is deleted or de-identified by that run and cannot be "
            "brought back.",
            id="retention-confirm-preview",
        ),
        open=S.confirming,
        on_confirm=S.save,
        on_cancel=S.cancel_save,
        confirm_label="Save",
        confirm_id="retention-confirm",
        cancel_label="Keep editing",
    )


def retention_page() -> rx.Component:
    return page_frame(
        rx.match(
            S.blocked,
            (
                "switch",
                rx.callout(
                    "Retention settings belong to a clinic. Switch into a clinic to see them.",
                    icon="building_2",
                    id="retention-needs-clinic",
                ),
            ),
            (
                "denied",
                rx.callout(
                    "Only the clinic's owner sets how long the clinic keeps its data.",
                    icon="info",
                    id="retention-denied",
                ),
            ),
            rx.cond(
                S.loading,
                rx.hstack(rx.spinner(), rx.text("Loading the retention settings…")),
                rx.vstack(
                    notice_callout(S.notice, id="retention-notice"),
                    error_callout(S.error, id="retention-error"),
                    _settings(),
                    _history(),
                    _runs(),
                    _confirm(),
                    spacing="5",
                    width="100%",
                ),
            ),
        ),
        title="Data retention",
    )
