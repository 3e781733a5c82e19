"""/messages: every conversation of the clinic, newest activity first, unread per user."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.fields import bare_checkbox, check_label, field_label
from mi_portal.components.layout import error_callout, page_frame
from mi_portal.state.messages import MessagesState as S

STYLE = (
    " @media (max-width: 720px) { #threads-table .col-wide { display: none; }"
    " #threads-table { --table-cell-padding: 4px; } }"
)


def _flag(key: str, label: str) -> rx.Component:
    return check_label(
        bare_checkbox(
            checked=S.view.contains(key),  # type: ignore[attr-defined]
            on_change=lambda v: S.tick(key, v),
            id=f"filter-{key}",
        ),
        label,
    )


def _filters() -> rx.Component:
    return rx.flex(
        rx.form(
            rx.flex(
                rx.vstack(
                    field_label("Search conversations", for_="threads-search"),
                    rx.input(
                        id="threads-search",
                        name="search",
                        value=S.search_text,
                        on_change=S.edit_search,
                        placeholder=S.search_hint,
                        max_length=100,
                        width="260px",
                        max_width="100%",
                    ),
                    spacing="1",
                ),
                rx.button("Search", type="submit", variant="soft", id="threads-search-go"),
                spacing="2",
                align="end",
                wrap="wrap",
            ),
            on_submit=S.apply_search,
        ),
        rx.flex(
            _flag("unread", "Unread"),
            _flag("mine", "Assigned to me"),
            _flag("waiting", "Waiting for patient"),
            spacing="4",
            wrap="wrap",
            role="group",
            aria_label="Filters",
        ),
        spacing="4",
        wrap="wrap",
        align="end",
        width="100%",
    )


def _row(row: rx.Var) -> rx.Component:
    case_id = row["submission_id"].to(str)
    return rx.table.row(
        rx.table.cell(
            rx.link(
                row["reference"],
                href="/cases/" + case_id,
                weight="medium",
                class_name="thread-link",
            ),
        ),  # fmt: skip
        rx.table.cell(rx.text(row["patient"], class_name="thread-patient")),
        rx.table.cell(row["assignee"], class_name="col-wide"),
        rx.table.cell(row["last_message_at"], white_space="nowrap", class_name="col-wide"),
        rx.table.cell(
            rx.cond(
                row["waiting"].to(bool),
                rx.badge("Waiting for patient", variant="outline"),
                rx.badge("Patient wrote last", color_scheme="amber", variant="outline"),
            )
        ),
        rx.table.cell(
            rx.cond(
                row["unread"].to(int) > 0,
                rx.badge(row["unread"], " unread", color_scheme="blue", class_name="thread-unread"),
                rx.text("—", color_scheme="gray", aria_label="none unread"),
            )
        ),
        class_name="thread-row",
    )


def _table() -> rx.Component:
    headers = (
        ("Case", False),
        ("Patient", False),
        ("Assignee", True),
        ("Last message", True),
        ("Direction", False),
        ("Unread", False),
    )
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h, class_name="col-wide" if wide else "")
                    for h, wide in headers
                ]
            )
        ),
        rx.table.body(rx.foreach(S.rows, _row)),
        width="100%",
        size="1",
        id="threads-table",
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.button(
            "Previous",
            variant="soft",
            disabled=S.page == 0,
            on_click=S.go_to_page(S.page - 1),
            id="threads-prev",
        ),  # fmt: skip
        rx.text(
            "Page ",
            S.page + 1,
            " of ",
            S.page_count,
            " · ",
            S.total,
            " conversations",
            size="2",
            id="threads-page-label",
        ),  # fmt: skip
        rx.button(
            "Next",
            variant="soft",
            disabled=S.page + 1 >= S.page_count,
            on_click=S.go_to_page(S.page + 1),
            id="threads-next",
        ),  # fmt: skip
        align="center",
        spacing="3",
        wrap="wrap",
    )


def _list() -> rx.Component:
    return rx.vstack(
        _filters(),
        error_callout(S.error, id="threads-error"),
        rx.cond(
            S.notice != "",
            rx.callout(S.notice, icon="info", role="status", id="threads-notice"),
        ),
        rx.cond(
            S.loading,
            rx.hstack(rx.spinner(), rx.text("Loading conversations…"), id="threads-loading"),
            rx.cond(
                S.total > 0,
                rx.vstack(
                    _table(),
                    _pager(),
                    rx.text(S.zone_caption, size="1", id="threads-zone"),
                    width="100%",
                    spacing="3",
                ),
                rx.callout(
                    "No conversations match this view. Clear a filter, or write to a patient "
                    "from their case.",
                    icon="inbox",
                    id="threads-empty",
                    high_contrast=True,
                ),
            ),
        ),
        spacing="4",
        width="100%",
    )


def messages_page() -> rx.Component:
    return page_frame(
        rx.el.style(STYLE),
        rx.match(
            S.blocked,
            (
                "switch",
                rx.callout(
                    "Conversations belong to a clinic. Switch into a clinic to see them.",
                    icon="building_2",
                    high_contrast=True,
                    id="threads-needs-clinic",
                ),
            ),
            (
                "denied",
                rx.callout(
                    "Your role does not include patient conversations.",
                    icon="info",
                    high_contrast=True,
                    id="threads-denied",
                ),
            ),
            _list(),
        ),
        title="Messages",
    )
