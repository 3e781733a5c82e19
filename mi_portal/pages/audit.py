"""Audit log viewer."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.layout import error_callout, page_frame
from mi_portal.state.audit import AuditState


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                name="user",
                placeholder="User email",
                aria_label="User email",
                default_value=AuditState.user_filter,
                width="180px",
            ),
            rx.input(
                name="action",
                placeholder="Action (e.g. tenant.)",
                aria_label="Action code starts with",
                default_value=AuditState.action_filter,
                width="170px",
                id="filter-action",
            ),
            rx.input(
                name="target",
                placeholder="Record id",
                aria_label="Record id",
                default_value=AuditState.target_filter,
                width="170px",
            ),
            rx.input(
                name="date_from",
                type="date",
                default_value=AuditState.date_from,
                aria_label="From date",
            ),
            rx.input(
                name="date_to",
                type="date",
                default_value=AuditState.date_to,
                aria_label="To date",
            ),
            rx.button("Filter", type="submit", id="filter-submit"),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
        on_submit=AuditState.apply_filters,
    )


def _what(line: rx.Var) -> rx.Component:
    """The action in words; the stored code stays readable beside it (and in the tooltip)."""
    code = rx.text(line.action, size="1", color_scheme="gray", class_name="audit-code")
    return rx.cond(
        line.count > 1,
        rx.vstack(
            rx.el.details(
                rx.el.summary(line.action_label, title=line.action, cursor="pointer"),
                rx.el.ul(
                    rx.foreach(
                        line.members,
                        lambda e: rx.el.li(
                            rx.text(e.occurred_at, " ", e.target_label, size="1", title=e.target)
                        ),
                    ),
                    padding_left="1.2em",
                    margin="0.3em 0",
                ),
                class_name="audit-group",
            ),
            code,
            spacing="0",
        ),
        rx.vstack(rx.text(line.action_label, title=line.action), code, spacing="0"),
    )


def _row(line: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(line.occurred_at, white_space="nowrap"),
            rx.cond(
                line.count > 1,
                rx.text("since ", line.earliest_at, size="1", color_scheme="gray"),
            ),
        ),
        rx.table.cell(
            rx.text(line.user),
            rx.text(line.role, size="1", color_scheme="gray"),
        ),
        rx.table.cell(_what(line)),
        rx.table.cell(rx.text(line.target_label, title=line.target), font_size="12px"),
        rx.table.cell(
            rx.cond(
                line.outcome == "ok",
                rx.badge("ok", color_scheme="green"),
                rx.badge(line.outcome, color_scheme="red"),
            )
        ),
        rx.table.cell(line.reason),
        rx.table.cell(rx.badge(line.chain, variant="outline")),
        class_name="audit-row",
    )


def _platform_access() -> rx.Component:
    return rx.cond(
        AuditState.platform_access.length() > 0,
        rx.callout.root(
            rx.callout.text(
                rx.text("Platform access today (UTC)", weight="bold"),
                rx.foreach(
                    AuditState.platform_access,
                    lambda a: rx.text(a["user"], ": ", a["label"], size="2"),
                ),
            ),
            color_scheme="amber",
            id="platform-access-today",
        ),
    )


def audit_page() -> rx.Component:
    return page_frame(
        _filters(),
        _platform_access(),
        rx.hstack(
            rx.cond(
                AuditState.is_platform,
                rx.hstack(
                    rx.switch(
                        checked=AuditState.include_platform,
                        on_change=AuditState.set_include_platform,
                        id="include-platform",
                        aria_labelledby="include-platform-label",
                    ),
                    rx.text("Include platform events", size="2", id="include-platform-label"),
                    align="center",
                ),
            ),
            rx.spacer(),
            rx.button(
                rx.icon("download", size=14),
                "Export CSV",
                variant="soft",
                on_click=AuditState.export_csv,
                id="export-csv",
            ),
            width="100%",
        ),
        error_callout(AuditState.error),
        rx.cond(
            AuditState.total > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[
                            rx.table.column_header_cell(h)
                            for h in (
                                "Time (UTC)",
                                "Who",
                                "What",
                                "Record",
                                "Outcome",
                                "Reason",
                                "Log",
                            )
                        ]
                    )
                ),
                rx.table.body(rx.foreach(AuditState.lines, _row)),
                width="100%",
                size="1",
            ),
            rx.callout("No events match these filters.", icon="info", id="audit-empty"),
        ),
        rx.hstack(
            rx.button(
                "Previous",
                variant="soft",
                on_click=AuditState.previous_page,
                disabled=AuditState.page == 0,
            ),
            rx.text(AuditState.page_label, size="2", id="audit-count"),
            rx.button(
                "Next", variant="soft", on_click=AuditState.next_page, disabled=~AuditState.has_next
            ),
            align="center",
            spacing="3",
        ),
        title="Audit log",
    )
