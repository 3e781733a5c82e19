"""Report charts: a ``report_types.Chart`` drawn as a plotly figure, its numbers as a table beside
it, a CSV download, and a plain empty state when there is nothing to draw.

The figure is built on the server (``figure``) and kept in state as plotly's JSON; the page only
places it. Colours come from a colour-blind-safe set, each at least 3:1 against the page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
import reflex as rx

from mi_portal.services.report_types import Chart, Stat

# Okabe–Ito hues, the yellow and sky blue swapped for darker ones that keep 3:1 on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8F6A00", "#5A5A5A")
HEIGHT = 320
NOTHING_TO_DRAW = (
    "Nothing to draw: every bar would be a figure hidden because it describes too few "
    "patients, or zero. The table shows every figure that may be shown."
)
SCROLL_HINT = "Scroll the table sideways to see all its columns."
# Tables with more columns than this scroll sideways on a phone (and say so there).
PHONE_COLUMNS = 5
_GRID = "rgba(128, 128, 128, 0.25)"
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
# No toolbar (its buttons have no accessible names), no zoom by dragging (a finger scrolling a
# phone would zoom instead), and the plot follows its container's width.
PLOT_CONFIG = {"displayModeBar": False, "responsive": True, "scrollZoom": False}


def _axis_labels(chart: Chart) -> list[str]:
    """The points' labels on the axis: "Week of 2 Nov 2026" loses its prefix there (the axis
    title says "Week"); the table keeps the full caption."""
    if chart.x and all(label.startswith("Week of ") for label in chart.x):
        return [label.removeprefix("Week of ") for label in chart.x]
    return list(chart.x)


def _traces(chart: Chart) -> list[Any]:
    labels = _axis_labels(chart)
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(chart.series))]
    traces: list[Any] = []
    for series, colour in zip(chart.series, colours, strict=True):
        values = [None if v is None else float(v) for v in series.values]
        if chart.kind == "funnel":
            traces.append(
                go.Funnel(
                    name=series.name,
                    y=labels,
                    x=values,
                    marker={"color": colour},
                    textinfo="value+percent initial",
                    connector={"fillcolor": "rgba(128, 128, 128, 0.18)"},
                )
            )
        elif chart.kind == "line":
            traces.append(
                go.Scatter(
                    name=series.name,
                    x=labels,
                    y=values,
                    mode="lines+markers",
                    connectgaps=False,  # a gap (suppressed, undefined) stays a gap
                    line={"color": colour, "width": 2},
                    marker={"color": colour, "size": 6},
                )
            )
        elif chart.kind == "hbar":
            traces.append(
                go.Bar(name=series.name, y=labels, x=values, orientation="h", marker_color=colour)
            )
        else:  # "bar" (grouped when several series) and "stacked_bar"
            traces.append(
                go.Bar(
                    name=series.name,
                    x=labels,
                    y=values,
                    marker={"color": colour, "line": {"color": "#ffffff", "width": 0.5}},
                )
            )
    return traces


def figure(chart: Chart) -> dict[str, Any]:
    """The plotly figure of ``chart`` as JSON (what the browser's plotly draws)."""
    fig = go.Figure(data=_traces(chart))
    legend = len(chart.series) > 1
    fig.update_layout(
        height=HEIGHT if chart.kind != "hbar" else max(HEIGHT, 60 + 34 * len(chart.x)),
        autosize=True,
        margin={"l": 8, "r": 8, "t": 40 if legend else 12, "b": 8},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        font={"family": _FONT, "size": 12},
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0, "xanchor": "left"},
        barmode="stack" if chart.kind == "stacked_bar" else "group",
        dragmode=False,
        hovermode="closest",
        separators=".,",
    )
    category = {"type": "category", "automargin": True, "fixedrange": True}
    value: dict[str, Any] = {
        "automargin": True,
        "fixedrange": True,
        "gridcolor": _GRID,
        "zerolinecolor": _GRID,
        "rangemode": "tozero",
    }
    numbers = [v for series in chart.series for v in series.values if v is not None]
    if numbers and max(numbers) <= 10 and all(float(v).is_integer() for v in numbers):
        value["dtick"] = 1  # a few cases: whole numbers on the axis, not 0.5 steps
    if chart.kind == "hbar":
        # Largest first means at the top: categories run downwards.
        fig.update_yaxes(
            **category, autorange="reversed", ticksuffix=" ", title_text=chart.y_title or None
        )
        fig.update_xaxes(**value, title_text=chart.x_title or None)
    elif chart.kind == "funnel":
        fig.update_yaxes(**category)
        fig.update_xaxes(fixedrange=True, showgrid=False)
    else:
        fig.update_xaxes(**category, title_text=chart.x_title or None)
        fig.update_yaxes(**value, title_text=chart.y_title or None)
    return json.loads(str(fig.to_json()))


# A number as the tables write it: "12", "1,284.00", "$12.50", "42.0 %", "5.2 h", "< 11".
_NUMBER = re.compile(r"[<>]?\s*[^\w\s]?\s*-?\d[\d,.\s]*(%|h|days?)?")


def _numeric_columns(chart: Chart) -> list[bool]:
    """Which columns hold numbers (right-aligned); the first always names the row."""
    numeric = []
    for i in range(len(chart.columns)):
        cells = [str(row[i]).strip() for row in chart.rows if i < len(row)]
        numeric.append(
            i > 0
            and any(any(ch.isdigit() for ch in c) for c in cells)
            and all(c in ("", "—", "-") or _NUMBER.fullmatch(c) for c in cells)
        )
    return numeric


def _drawable(chart: Chart) -> bool:
    """Whether the figure has something to draw: when some values are hidden (``None``), at
    least one visible value that is not zero; otherwise any value (zeros too)."""
    values = [v for series in chart.series for v in series.values]
    if any(v is None for v in values):
        return any(v is not None and v != 0 for v in values)
    return bool(values)


def chart_view(chart: Chart, empty_text: str) -> dict[str, Any]:
    """What the page keeps of one chart: its words, its table and its figure."""
    return {
        "key": chart.key,
        "title": chart.title,
        "caption": chart.caption,
        "columns": list(chart.columns),
        "rows": [[str(c) for c in row] for row in chart.rows],
        "empty": chart.empty,
        "empty_text": empty_text,
        "figure": {} if chart.empty else figure(chart),
        "label": f"Chart: {chart.title}. Its numbers are in the table beside it.",
        "drawable": _drawable(chart),
        # A table of many columns goes below its figure, at full width.
        "stacked": len(chart.columns) > 4,
        "wide": len(chart.columns) > PHONE_COLUMNS,
        "numeric": _numeric_columns(chart),
    }


def stat_view(stat: Stat) -> dict[str, str]:
    return {"key": stat.key, "label": stat.label, "value": stat.value, "hint": stat.hint}


# --- the page's pieces -----------------------------------------------------------------------

STYLE = (
    ".report-grid { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr);"
    " gap: 1.25em; align-items: start; width: 100%; }"
    " .report-grid.stacked { grid-template-columns: minmax(0, 1fr); }"
    " @media (max-width: 960px) { .report-grid { grid-template-columns: minmax(0, 1fr); } }"
    " .report-plot { width: 100%; min-width: 0; }"
    " .report-plot .js-plotly-plot, .report-plot .plot-container { width: 100% !important; }"
    " .report-table { max-height: 360px; overflow: auto; width: 100%; }"
    " .report-table th { white-space: nowrap; }"
    " .report-table td.num, .report-table th.num { text-align: right;"
    " font-variant-numeric: tabular-nums; white-space: nowrap; }"
    " .report-scroll-hint { display: none; }"
    # A phone: headings wrap, cells pad less in smaller type, so most tables fit; wider ones
    # say they scroll.
    " @media (max-width: 640px) { .report-table thead th, .report-table thead th.num {"
    " white-space: normal; }"
    " .report-table .rt-TableCell, .report-table .rt-TableColumnHeaderCell,"
    " .report-table .rt-TableRowHeaderCell { padding-left: 4px; padding-right: 4px;"
    " font-size: var(--font-size-1); }"
    " .report-scroll-hint { display: block; } }"
)


def stat_cards(stats: rx.Var, *, id: str = "report-stats") -> rx.Component:
    """Headline figures as a row of small cards (two to a row on a phone)."""
    return rx.grid(
        rx.foreach(
            stats,
            lambda s: rx.card(
                rx.vstack(
                    rx.text(s["label"], size="2", color_scheme="gray"),
                    rx.text(s["value"], size="6", weight="bold", class_name="stat-value"),
                    rx.cond(s["hint"] != "", rx.text(s["hint"], size="1", color_scheme="gray")),
                    spacing="1",
                ),
                id="stat-" + s["key"].to(str),
                class_name="stat-card",
            ),
        ),
        columns=rx.breakpoints(initial="2", sm="3", md="4"),
        spacing="3",
        width="100%",
        id=id,
    )


def _cell(chart: rx.Var, value: rx.Var, index: rx.Var) -> rx.Component:
    # The first column names the row; numbers are right-aligned.
    return rx.cond(
        index == 0,
        rx.table.row_header_cell(value),
        rx.table.cell(value, class_name=rx.cond(chart["numeric"].to(list[bool])[index], "num", "")),
    )


def _table(chart: rx.Var) -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.foreach(
                        chart["columns"].to(list[str]),
                        lambda c, i: rx.table.column_header_cell(
                            c,
                            class_name=rx.cond(chart["numeric"].to(list[bool])[i], "num", ""),
                        ),
                    )
                )
            ),
            rx.table.body(
                rx.foreach(
                    chart["rows"].to(list[list[str]]),
                    lambda row: rx.table.row(
                        rx.foreach(row, lambda value, i: _cell(chart, value, i))
                    ),
                )
            ),
            size="1",
            variant="surface",
            width="100%",
            class_name="report-table-inner",
        ),
        class_name="report-table",
        id="table-" + chart["key"].to(str),
        tab_index=0,  # a scrolling region must be reachable by keyboard
        role="region",
        aria_label="Table: " + chart["title"].to(str),
    )


def chart_panel(
    chart: rx.Var, on_download: Callable[[rx.Var], Any], *, level: str = "h2"
) -> rx.Component:
    """One chart: title, caption, the figure and its table (or the empty state), CSV download."""
    key = chart["key"].to(str)
    return rx.card(
        rx.vstack(
            rx.flex(
                rx.heading(chart["title"], as_=level, size="4"),
                rx.spacer(),
                rx.cond(
                    ~chart["empty"].to(bool),
                    rx.button(
                        rx.icon("download", size=14, aria_hidden="true"),
                        "Download CSV",
                        size="1",
                        variant="soft",
                        high_contrast=True,
                        on_click=on_download(key),
                        id="csv-" + key,
                        aria_label="Download CSV: " + chart["title"].to(str),
                    ),
                ),
                align="center",
                spacing="2",
                wrap="wrap",
                width="100%",
            ),
            rx.cond(
                chart["caption"] != "",
                rx.text(chart["caption"], size="2", color_scheme="gray"),
            ),
            rx.cond(
                chart["empty"].to(bool),
                rx.callout(
                    chart["empty_text"],
                    icon="info",
                    color_scheme="gray",
                    class_name="chart-empty",
                    id="empty-" + key,
                    width="100%",
                ),
                rx.box(
                    rx.cond(
                        chart["drawable"].to(bool),
                        rx.box(
                            rx.plotly(
                                data=chart["figure"].to(go.Figure),
                                config=PLOT_CONFIG,
                                use_resize_handler=True,
                                style={"width": "100%"},
                            ),
                            class_name="report-plot",
                            role="img",
                            aria_label=chart["label"],
                            id="plot-" + key,
                        ),
                        rx.callout(
                            NOTHING_TO_DRAW,
                            icon="eye_off",
                            color_scheme="gray",
                            class_name="chart-undrawable",
                            id="undrawable-" + key,
                        ),
                    ),
                    rx.vstack(
                        _table(chart),
                        rx.cond(
                            chart["wide"].to(bool),
                            rx.text(
                                SCROLL_HINT,
                                size="1",
                                color_scheme="gray",
                                class_name="report-scroll-hint",
                            ),
                        ),
                        spacing="1",
                        width="100%",
                        min_width="0",
                    ),
                    class_name=rx.cond(
                        chart["stacked"].to(bool), "report-grid stacked", "report-grid"
                    ),
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        class_name="chart-panel",
        id="chart-" + key,
    )
