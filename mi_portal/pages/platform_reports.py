"""/platform/reports: usage per clinic per month for billing, and trends across clinics with
small cells suppressed; the month range in the address."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.charts import STYLE, chart_panel
from mi_portal.components.layout import error_callout, page_frame
from mi_portal.services.report_types import SMALL_CELL, SUPPRESSED
from mi_portal.state.platform_reports import (
    QUICK_MONTHS,
    TABLE_ROWS,
)
from mi_portal.state.platform_reports import (
    PlatformReportsState as S,
)

MONTH_STYLE = " .report-date { display: flex; flex-direction: column; gap: 2px; }"


def _blocked() -> rx.Component:
    return rx.match(
        S.blocked,
        (
            "leave",
            rx.callout(
                "The platform's reports are platform work. Leave the clinic first (the button "
                "in the banner above), then open this page again.",
                icon="log_out",
                id="platform-reports-leave",
            ),
        ),
        rx.callout(
            "Only platform staff see the platform's reports.",
            icon="info",
            id="platform-reports-denied",
        ),
    )


def _month(label: str, key: str) -> rx.Component:
    return rx.el.label(
        rx.text(label, size="1", color_scheme="gray"),
        rx.input(
            name=key,
            type="month",
            value=S.typed.get(key, ""),  # type: ignore[attr-defined]
            on_change=lambda value: S.edit(key, value),
            id=f"platform-{key}",
            placeholder="YYYY-MM",
        ),
        class_name="report-date",
    )


def _filters() -> rx.Component:
    return rx.flex(
        rx.form(
            rx.flex(
                _month("From month", "from"),
                _month("To month", "to"),
                rx.button("Apply", type="submit", id="platform-apply", high_contrast=True),
                spacing="2",
                wrap="wrap",
                align="end",
            ),
            on_submit=S.apply_months,
            id="platform-months",
            aria_label="Month range",
        ),
        rx.flex(
            *[
                rx.button(
                    f"Last {m} months",
                    size="1",
                    variant="soft",
                    high_contrast=True,
                    on_click=S.quick_range(m),
                    id=f"months-{m}",
                )
                for m in QUICK_MONTHS
            ],
            spacing="2",
            wrap="wrap",
            role="group",
            aria_label="Quick ranges",
        ),
        spacing="3",
        wrap="wrap",
        align="end",
        width="100%",
    )


def _explanation() -> rx.Component:
    # Two paragraphs: the callout's own text is a <p>, so nothing block-level goes inside it.
    return rx.callout.root(
        rx.callout.icon(rx.icon("shield_check")),
        rx.callout.text(
            "Usage is exact: it is what each clinic used of the service in each month (UTC), "
            "for billing, so the cases received per month are public here. Trends add up every "
            "clinic's figures and describe patients: month by month, a cell that describes 1 to "
            f"{SMALL_CELL - 1} patients shows “{SUPPRESSED}”, and where a month's total is shown "
            "(the cases received, the usage table's sum) further cells are hidden until the "
            f"hidden ones together describe no patient or at least {SMALL_CELL}. Nothing is "
            "added up over months, so a month reads the same in every range."
        ),
        rx.callout.text(
            "Special-category data (a case's concern area, photos and anything about a "
            "patient's health) never enters these figures: only columns tagged as ordinary "
            "data can split a trend."
        ),
        color_scheme="gray",
        id="suppression-note",
    )


def _body() -> rx.Component:
    return rx.vstack(
        _filters(),
        rx.cond(
            S.problem != "",
            rx.callout(
                S.problem, icon="triangle_alert", color_scheme="amber", id="platform-problem"
            ),
        ),
        error_callout(S.error, id="platform-error"),
        _explanation(),
        rx.cond(
            S.loading,
            rx.hstack(
                rx.spinner(),
                rx.text("Computing the figures…"),
                id="platform-loading",
                role="status",
            ),
            rx.cond(
                S.error == "",
                rx.vstack(
                    rx.heading("Usage per clinic", as_="h2", size="5"),
                    rx.foreach(S.usage, lambda c: chart_panel(c, S.download, level="h3")),
                    rx.cond(
                        S.usage_cut,
                        rx.text(
                            f"The table shows the first {TABLE_ROWS} of ",
                            S.usage_rows,
                            " rows; the CSV has them all.",
                            size="2",
                            color_scheme="gray",
                            id="usage-cut",
                        ),
                    ),
                    rx.heading("Trends across clinics", as_="h2", size="5"),
                    rx.foreach(S.trends, lambda c: chart_panel(c, S.download, level="h3")),
                    spacing="4",
                    width="100%",
                    id="platform-charts",
                ),
            ),
        ),
        spacing="4",
        width="100%",
    )


def platform_reports_page() -> rx.Component:
    return page_frame(
        rx.el.style(STYLE + MONTH_STYLE),
        rx.cond(S.blocked != "", _blocked(), _body()),
        title="Platform reports",
    )
