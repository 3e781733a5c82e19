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
                default_value=AuditState.user_filter,
                width="180px",
            ),
            rx.input(
                name="action",
                placeholder="Action (e.g. tenant.)",
                default_value=AuditState.action_filter,
                width="170px",
                id="filter-action",
            ),
            rx.input(
                name="target",
                placeholder="Record id",
                default_value=AuditState.target_filter,
                width="170px",
            ),
            rx.input(name="date_from", type="date", default_value=AuditState.date_from),
            rx.input(name="date_to", type="date", default_value=AuditState.date_to),
            rx.button("Filter", type="submit", id="filter-submit"),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
        on_submit=AuditState.apply_filters,
    )


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row["occurred_at"], white_space="nowrap"),
        rx.table.cell(row["user"]),
        rx.table.cell(row["role"]),
        rx.table.cell(rx.code(row["action"])),
        rx.table.cell(row["target"], font_size="12px"),
        rx.table.cell(
            rx.cond(
                row["outcome"] == "ok",
                rx.badge("ok", color_scheme="green"),
                rx.badge(row["outcome"], color_scheme="red"),
            )
        ),
        rx.table.cell(row["reason"]),
        rx.table.cell(rx.badge(row["chain"], variant="outline")),
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
                    ),
                    rx.text("Include platform events", size="2"),
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
                                "User",
                                "Role",
                                "Action",
                                "Record",
                                "Outcome",
                                "Reason",
                                "Log",
                            )
                        ]
                    )
                ),
                rx.table.body(rx.foreach(AuditState.rows, _row)),
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
