"""/reports: headline figures, then each chart with its table and CSV; filters in the address."""

from __future__ import annotations

import reflex as rx

from mi_portal.components.charts import STYLE, chart_panel, stat_cards
from mi_portal.components.fields import NATIVE_SELECT
from mi_portal.components.layout import error_callout, page_frame
from mi_portal.services.intake_questions import CONCERN_AREAS
from mi_portal.state.reports import (
    GRAIN_LABELS,
    QUICK_RANGES,
    SOURCE_LABELS,
)
from mi_portal.state.reports import (
    ReportsState as S,
)
from mi_portal.state.session import SessionState

FILTER_STYLE = (
    " .report-date { display: flex; flex-direction: column; gap: 2px; }"
    " .report-select { display: flex; flex-direction: column; gap: 2px; max-width: 100%; }"
    " .report-select select { max-width: 100%; }"
)


def _blocked() -> rx.Component:
    return rx.match(
        S.blocked,
        (
            "switch",
            rx.callout(
                "Reports belong to a clinic. Platform staff see usage on the platform's own "
                "reports page.",
                icon="building_2",
                id="reports-needs-clinic",
            ),
        ),
        rx.callout(
            rx.cond(
                SessionState.is_platform,
                "A clinic's reports are for its owner and managers. The platform's own figures "
                "are under Platform reports.",
                "Only the clinic's owner and managers see its reports.",
            ),
            icon="info",
            id="reports-denied",
        ),
    )


def _select(label: str, key: str, options: list[tuple[str, str]]) -> rx.Component:
    """A select bound to the address: it shows the address's value; a change moves to a new one."""
    control_id = f"report-{key}"
    return rx.el.label(
        rx.text(label, size="1", color_scheme="gray"),
        rx.el.select(
            *[rx.el.option(text, value=value) for value, text in options],
            value=S.view.get(key, ""),  # type: ignore[attr-defined]
            on_change=lambda value: S.choose(key, value),
            id=control_id,
            class_name=NATIVE_SELECT,
        ),
        class_name="report-select",
    )


def _date(label: str, key: str) -> rx.Component:
    return rx.el.label(
        rx.text(label, size="1", color_scheme="gray"),
        rx.input(
            name=key,
            type="date",
            value=S.view.get(key, ""),  # type: ignore[attr-defined]
            on_change=lambda value: S.edit(key, value),
            id=f"report-{key}",
        ),
        class_name="report-date",
    )


def _quick(days: int) -> rx.Component:
    return rx.button(
        f"Last {days} days",
        size="1",
        variant="soft",
        high_contrast=True,
        on_click=S.quick_range(days),
        id=f"range-{days}",
    )


def filter_bar() -> rx.Component:
    return rx.vstack(
        rx.flex(
            *[_quick(d) for d in QUICK_RANGES],
            spacing="2",
            wrap="wrap",
            role="group",
            aria_label="Quick ranges",
        ),
        rx.flex(
            rx.form(
                rx.flex(
                    _date("Received from", "from"),
                    _date("Received until", "to"),
                    rx.button("Apply", type="submit", id="report-apply", high_contrast=True),
                    spacing="2",
                    wrap="wrap",
                    align="end",
                ),
                on_submit=S.apply_dates,
                id="report-dates",
                aria_label="Date range",
            ),
            _select("Group by", "grain", list(GRAIN_LABELS.items())),
            _select("Concern area", "area", [("", "Every concern area"), *CONCERN_AREAS.items()]),
            _select("Source", "source", [("", "Every source"), *SOURCE_LABELS.items()]),
            spacing="3",
            wrap="wrap",
            align="end",
            width="100%",
        ),
        spacing="2",
        width="100%",
        id="report-filters",
    )


def _body() -> rx.Component:
    return rx.vstack(
        rx.text(
            "Cases received in the range, and how far they got: every case figure follows "
            "the cases received between the two dates. ",
            S.zone_caption,
            size="2",
            color_scheme="gray",
            id="reports-intro",
        ),
        filter_bar(),
        rx.cond(
            S.problem != "",
            rx.callout(S.problem, icon="triangle_alert", color_scheme="amber", id="report-problem"),
        ),
        error_callout(S.error, id="report-error"),
        rx.cond(
            S.loading,
            rx.hstack(
                rx.spinner(), rx.text("Computing the figures…"), id="reports-loading", role="status"
            ),
            rx.cond(
                S.error == "",
                rx.vstack(
                    stat_cards(S.stats),
                    rx.foreach(S.charts, lambda c: chart_panel(c, S.download)),
                    spacing="4",
                    width="100%",
                    id="report-charts",
                    custom_attrs={"data-shown": S.shown},
                ),
            ),
        ),
        spacing="4",
        width="100%",
    )


def reports_page() -> rx.Component:
    return page_frame(
        rx.el.style(STYLE + FILTER_STYLE),
        rx.cond(S.blocked != "", _blocked(), _body()),
        title="Reports",
    )
