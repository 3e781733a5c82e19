"""The platform's trend tables: cross-clinic sums laid out one month per row, suppressed, as
charts.

Each month's row is suppressed on its own figures (``services.suppression``): nothing is
summed over months (no "all months" row, no column totals), so what a month shows does not
depend on the range asked for, and two ranges give nothing away by difference. The
received-case trends show each month's total of cases received exactly: it is the sum of the
usage table's cases, public to the same readers, so suppression counts it as known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mi_portal.services.platform_months import Month, caption
from mi_portal.services.platform_trends import (
    CHANNELS,
    SOURCES,
    STAGES,
    TREND_COLUMNS,
    Counts,
    Tally,
)
from mi_portal.services.report_types import SUPPRESSED, Chart, Series
from mi_portal.services.suppression import Row, hidden_cells, unions


@dataclass(frozen=True)
class _Trend:
    """How one trend is drawn: its title, its cells' headings and its total's (if shown)."""

    key: str
    title: str
    headings: list[str]
    total: str | None  # the heading of the row total; None: no total shown (nor public)
    y_title: str


TRENDS = (
    _Trend(
        "trend_received_by_source",
        "Cases received by form",
        [label for _code, label in SOURCES],
        "All cases",
        "Cases",
    ),
    _Trend(
        "trend_funnel",
        "Cases received: not quoted, quoted, accepted",
        [label for _key, label in STAGES],
        "Received",
        "Cases",
    ),
    _Trend(
        "trend_messages_by_channel",
        "Messages by channel",
        [label for _code, label in CHANNELS],
        None,
        "Messages",
    ),
)

CAPTION = (
    'Across clinics, month by month (UTC). A cell describing 1–10 patients shows "{mark}"; so '
    "does the smallest other cell of its month where needed, so that the hidden cells of a "
    "month never add up to 1–10 patients."
)
TOTAL_NOTE = (
    " The month's total is exact: it is the sum of the usage table's cases. A month with "
    "fewer than 11 patients hides every cell."
)


def charts(total: Counts, months: Sequence[Month], trends: Sequence[str]) -> list[Chart]:
    """The suppressed trend charts of the allowed ``trends``, in the order of ``TREND_COLUMNS``."""
    chosen = {t.key: t for t in TRENDS if t.key in trends}
    return [
        _chart(chosen[key], months, total.get(key, {})) for key in TREND_COLUMNS if key in chosen
    ]


def _row(trend: _Trend, tally: Tally) -> tuple[list[str], list[float | None]]:
    """One month as shown (cells, then the total if any) and as drawn (``None`` = hidden)."""
    row = Row(tally.values, tally.patients, total_public=trend.total is not None)
    hidden = hidden_cells(row)
    shown = [SUPPRESSED if j in hidden else str(v) for j, v in enumerate(tally.values)]
    drawn = [None if j in hidden else float(v) for j, v in enumerate(tally.values)]
    if trend.total is not None:
        shown.append(str(tally.total))
    return shown, drawn


def _chart(trend: _Trend, months: Sequence[Month], by_month: dict[str, Tally]) -> Chart:
    """The trend as a table (hidden cells read "< 11") and stacked bars (hidden ones are gaps)."""
    width = len(trend.headings)
    rows: list[list[str]] = []
    columns: list[list[float | None]] = [[] for _ in range(width)]
    for m in months:
        tally = by_month.get(m.label) or Tally([0] * width, 0, dict.fromkeys(unions(width), 0))
        shown, drawn = _row(trend, tally)
        rows.append([m.label, *shown])
        for j in range(width):
            columns[j].append(drawn[j])
    total = [] if trend.total is None else [trend.total]
    return Chart(
        key=trend.key,
        title=trend.title,
        kind="stacked_bar",
        x=[caption(m.label) for m in months],
        series=[Series(name, values) for name, values in zip(trend.headings, columns, strict=True)],
        columns=["Month", *trend.headings, *total],
        rows=rows,
        caption=CAPTION.format(mark=SUPPRESSED) + (TOTAL_NOTE if total else ""),
        x_title="Month (UTC)",
        y_title=trend.y_title,
    )
