"""The platform's trend tables: cross-clinic sums laid out by month, suppressed, as charts.

Every table is additive (cells add up to their row and column totals), so suppression covers
every difference a reader can take; the received-case tables share their monthly totals and
hide them together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mi_portal.services import rights_deadlines
from mi_portal.services.platform_months import Month, caption
from mi_portal.services.platform_trends import CHANNELS, SOURCES, STAGES, TREND_COLUMNS, Counts
from mi_portal.services.report_types import SUPPRESSED, Chart, Series
from mi_portal.services.suppression import Cell, Position, Table, suppress


def jurisdiction_label(code: str) -> str:
    return rights_deadlines.label(code) if code else "Not set"


Source = dict[tuple[str, str], tuple[int, int]]


@dataclass(frozen=True)
class _Trend:
    """How one trend is drawn: its categories (columns) and its row total."""

    key: str
    title: str
    columns: list[tuple[str, Source, str]]  # (heading, counts, category)
    total: tuple[str, Source]  # (heading, counts per month)
    y_title: str
    # The received-case trends share their row totals (cases received per month).
    received: bool = True


def charts(
    total: Counts, months: Sequence[Month], trends: Sequence[str], jurisdictions: Sequence[str]
) -> list[Chart]:
    """The suppressed trend charts, in the order of ``TREND_COLUMNS``."""
    codes = sorted(set(jurisdictions), key=jurisdiction_label)
    every = {
        "trend_received_by_source": _Trend(
            "trend_received_by_source",
            "Cases received by form",
            [(label, total["source"], code) for code, label in SOURCES],
            ("All cases", total["received"]),
            "Cases",
        ),
        "trend_received_by_jurisdiction": _Trend(
            "trend_received_by_jurisdiction",
            "Cases received by clinic jurisdiction",
            [(jurisdiction_label(c), total["jurisdiction"], c) for c in codes],
            ("All cases", total["received"]),
            "Cases",
        ),
        "trend_funnel": _Trend(
            "trend_funnel",
            "Cases received: not quoted, quoted, accepted",
            [(label, total[key], "") for key, label in STAGES],
            ("Received", total["received"]),
            "Cases",
        ),
        "trend_messages_by_channel": _Trend(
            "trend_messages_by_channel",
            "Messages by channel",
            [(label, total["messages"], code) for code, label in CHANNELS],
            ("All messages", total["messages"]),
            "Messages",
            received=False,
        ),
    }
    chosen = [every[key] for key in TREND_COLUMNS if key in trends and key in every]
    tables = {t.key: _table(t, months) for t in chosen}
    hidden = _suppress_linked(chosen, tables)
    return [_chart(t, months, tables[t.key], hidden[t.key]) for t in chosen]


def _suppress_linked(
    chosen: Sequence[_Trend], tables: dict[str, Table]
) -> dict[str, set[Position]]:
    """Suppress each table; the received-case tables show the same row totals, so a total
    hidden in one is hidden in all (else one table would give away what another hides)."""
    forced: set[int] = set()  # rows (months, and the totals row) whose total is hidden
    while True:
        hidden: dict[str, set[Position]] = {}
        for trend in chosen:
            table = tables[trend.key]
            extra = {(i, table.width) for i in forced} if trend.received else set()
            hidden[trend.key] = suppress(table, forced=extra)
        now = {
            i
            for trend in chosen
            if trend.received
            for i, j in hidden[trend.key]
            if j == tables[trend.key].width
        }
        if now <= forced:
            return hidden
        forced |= now


def _cell(source: Source, month: str, category: str) -> Cell:
    value, patients = source.get((month, category), (0, 0))
    return Cell(value, patients)


def _table(trend: _Trend, months: Sequence[Month]) -> Table:
    """One month per row, one category per column, with the row, column and grand totals."""
    totals = trend.total[1]
    return Table(
        [[_cell(src, m.label, c) for _n, src, c in trend.columns] for m in months],
        row_totals=[_cell(totals, m.label, "") for m in months],
        column_totals=[_cell(src, "", c) for _n, src, c in trend.columns],
        grand=_cell(totals, "", ""),
    )


def _chart(trend: _Trend, months: Sequence[Month], table: Table, hidden: set[Position]) -> Chart:
    """The table as shown: hidden entries read "< 11" and are gaps in the series."""
    entries = table.entries()
    height, width = table.height, table.width

    def shown(i: int, j: int) -> str:
        return SUPPRESSED if (i, j) in hidden else str(entries[(i, j)].value)

    rows = [[m.label] + [shown(i, j) for j in range(width + 1)] for i, m in enumerate(months)]
    rows.append(["All months"] + [shown(height, j) for j in range(width + 1)])
    series = [
        Series(
            name,
            [None if (i, j) in hidden else float(entries[(i, j)].value) for i in range(height)],
        )
        for j, (name, _src, _c) in enumerate(trend.columns)
    ]
    return Chart(
        key=trend.key,
        title=trend.title,
        kind="stacked_bar",
        x=[caption(m.label) for m in months],
        series=series,
        columns=["Month"] + [n for n, _s, _c in trend.columns] + [trend.total[0]],
        rows=rows,
        caption="Across clinics. A cell describing fewer than 11 patients, or one that would "
        'give such a cell away, shows "< 11".',
        x_title="Month (UTC)",
        y_title=trend.y_title,
    )
