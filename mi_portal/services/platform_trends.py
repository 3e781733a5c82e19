"""Cross-clinic trends for the platform: the one reviewed path from clinic rows to a platform figure.

* ``TREND_COLUMNS`` declares, per trend, every column its SQL may group by, filter on or count.
  Before anything runs, each declared column's category tag (``column.info["category"]``) is
  checked: a trend that would read a ``special_category`` or ``health_image`` column is left out
  of the report, not computed. Each statement is checked again before it runs: it may read
  only declared columns of trends still allowed (and the tenant keys the joins use).
* Each clinic's figures are computed in its own read-only tenant session (row-level security on
  PostgreSQL, the ORM's tenant criteria everywhere), one grouped statement per level; only
  (month, category, count, distinct patients) tuples leave it, and the session is rolled back.
* Every table is additive (cells add up to their row and column totals), so suppression covers
  every difference a reader can take: the funnel is shown as disjoint parts of the cases
  received (not quoted, quoted only, accepted), not as nested stages.
* The sums over clinics are exact (a patient is a row of one clinic, so distinct counts add up),
  then ``services.suppression`` hides every cell under 11 patients and whatever would give one
  away; hidden cells read "< 11" in the table and are gaps in the series.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import visitors
from sqlmodel import SQLModel, col, select

from mi_portal.db import ScopedSession
from mi_portal.models import (
    DataCategory,
    Message,
    MessageChannel,
    MessageThread,
    Quote,
    QuoteStatus,
    Submission,
    SubmissionSource,
)
from mi_portal.services import rights_deadlines
from mi_portal.services.report_types import SUPPRESSED, Chart, Series
from mi_portal.services.suppression import Cell, Position, Table, suppress

REFUSED = frozenset({DataCategory.SPECIAL_CATEGORY.value, DataCategory.HEALTH_IMAGE.value})

# Every column a trend reads ("table.column"). Changing this list is a privacy review.
TREND_COLUMNS: dict[str, tuple[str, ...]] = {
    "trend_received_by_source": (
        "submission.received_at",
        "submission.patient_id",
        "submission.source",
    ),
    "trend_received_by_jurisdiction": (
        "submission.received_at",
        "submission.patient_id",
        "tenant.jurisdiction",
    ),
    "trend_funnel": (
        "submission.received_at",
        "submission.patient_id",
        "submission.quote_sent_at",
        "submission.id",
        "quote.submission_id",
        "quote.status",
    ),
    "trend_messages_by_channel": (
        "message.created_at",
        "message.channel",
        "message.thread_id",
        "messagethread.id",
        "messagethread.submission_id",
        "submission.id",
        "submission.patient_id",
    ),
}

SOURCES = (
    (SubmissionSource.CLINIC_PAGE.value, "Clinic page"),
    (SubmissionSource.DIRECTORY.value, "Multi-clinic form"),
)
CHANNELS = (
    (MessageChannel.EMAIL.value, "Email"),
    (MessageChannel.SMS.value, "SMS"),
    (MessageChannel.PORTAL.value, "Reply page"),
)
# The funnel as disjoint parts of the cases received (which are their row total): shown as
# nested stages (received, quoted, accepted), "received minus quoted" would describe a group
# that no suppression looked at. Quoted = the last two parts.
STAGES = (
    ("not_quoted", "Not quoted"),
    ("quoted_only", "Quoted, not accepted"),
    ("accepted", "Accepted"),
)


class UndeclaredColumn(RuntimeError):
    """A trend statement reads a column outside the reviewed declaration."""


def _column(name: str) -> sa.Column[Any]:
    table, column = name.split(".")
    return SQLModel.metadata.tables[table].c[column]


def allowed_trends() -> list[str]:
    """The trends whose every declared column is tagged neither special category nor image."""
    return [
        key
        for key, names in TREND_COLUMNS.items()
        if all(_column(n).info.get("category") not in REFUSED for n in names)
    ]


def _allowed_columns(trends: Sequence[str]) -> set[sa.Column[Any]]:
    return {_column(n) for key in trends for n in TREND_COLUMNS[key]}


def _check(statement: Any, trends: Sequence[str]) -> Any:
    """``statement`` if it reads only declared, allowed columns (and tenant keys)."""
    allowed = _allowed_columns(trends)
    for element in visitors.iterate(statement):
        if isinstance(element, sa.Column) and element.table is not None:
            if element.name == "tenant_id":
                continue
            if element not in allowed or element.info.get("category") in REFUSED:
                raise UndeclaredColumn(f"{element.table.name}.{element.name}")
    return statement


@dataclass(frozen=True)
class Month:
    label: str  # YYYY-MM
    start: datetime
    end: datetime


def month_of(column: Any, months: Sequence[Month]) -> Any:
    """The "YYYY-MM" of ``column`` among ``months`` (one CASE, the same on every database)."""
    return sa.case(*[(column < m.end, sa.literal(m.label)) for m in months], else_=sa.null())


def _within(column: Any, months: Sequence[Month]) -> Any:
    return sa.and_(column >= months[0].start, column < months[-1].end)


# One clinic's aggregates: level → {(month or "", category or ""): (count, patients)}.
Counts = dict[str, dict[tuple[str, str], tuple[int, int]]]


def clinic_counts(session: ScopedSession, months: Sequence[Month], trends: Sequence[str]) -> Counts:
    """The grouped counts of one clinic for the allowed ``trends`` (its own session)."""
    out: Counts = defaultdict(dict)
    if {"trend_received_by_source", "trend_received_by_jurisdiction", "trend_funnel"} & set(trends):
        _received(session, months, trends, out)
    if "trend_received_by_source" in trends:
        _sources(session, months, trends, out)
    if "trend_messages_by_channel" in trends:
        _messages(session, months, trends, out)
    return out


def _run(session: ScopedSession, statement: Any, trends: Sequence[str]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.execute(_check(statement, trends)).all()]


def _received(
    session: ScopedSession, months: Sequence[Month], trends: Sequence[str], out: Counts
) -> None:
    received = col(Submission.received_at)
    patient = col(Submission.patient_id)
    month = month_of(received, months).label("month")
    measures: list[Any] = [sa.func.count(), sa.func.count(sa.distinct(patient))]
    if "trend_funnel" in trends:
        accepted = sa.exists().where(
            col(Quote.tenant_id) == col(Submission.tenant_id),
            col(Quote.submission_id) == col(Submission.id),
            col(Quote.status) == QuoteStatus.ACCEPTED.value,
        )
        quoted = sa.or_(col(Submission.quote_sent_at).is_not(None), accepted)
        for stage in (sa.not_(quoted), sa.and_(quoted, sa.not_(accepted)), accepted):
            measures += [
                sa.func.count(sa.case((stage, 1))),
                sa.func.count(sa.distinct(sa.case((stage, patient)))),
            ]
    where = _within(received, months)
    for row in _run(session, select(month, *measures).where(where).group_by(month), trends):
        _stages(out, row[0], row[1:])
    for row in _run(session, select(*measures).where(where), trends):
        _stages(out, "", row)


def _stages(out: Counts, month: str, figures: Sequence[Any]) -> None:
    names = ("received", *(key for key, _label in STAGES))
    for k, stage in enumerate(names[: len(figures) // 2]):
        out[stage][(month, "")] = (int(figures[2 * k] or 0), int(figures[2 * k + 1] or 0))


def _sources(
    session: ScopedSession, months: Sequence[Month], trends: Sequence[str], out: Counts
) -> None:
    """Cases per form they came through: per month, and over the whole range."""
    received = col(Submission.received_at)
    month = month_of(received, months).label("month")
    source = col(Submission.source).label("source")
    measures = (sa.func.count(), sa.func.count(sa.distinct(col(Submission.patient_id))))
    where = _within(received, months)
    for row in _run(
        session, select(month, source, *measures).where(where).group_by(month, source), trends
    ):
        out["source"][(row[0], row[1])] = (int(row[2]), int(row[3]))
    for row in _run(session, select(source, *measures).where(where).group_by(source), trends):
        out["source"][("", row[0])] = (int(row[1]), int(row[2]))


def _messages(
    session: ScopedSession, months: Sequence[Month], trends: Sequence[str], out: Counts
) -> None:
    created = col(Message.created_at)
    month = month_of(created, months).label("month")
    channel = col(Message.channel).label("channel")

    def base(*columns: Any) -> Any:
        return (
            sa.select(*columns)
            .select_from(Message)
            .join(
                MessageThread,
                sa.and_(
                    col(MessageThread.tenant_id) == col(Message.tenant_id),
                    col(MessageThread.id) == col(Message.thread_id),
                ),
            )
            .join(
                Submission,
                sa.and_(
                    col(Submission.tenant_id) == col(MessageThread.tenant_id),
                    col(Submission.id) == col(MessageThread.submission_id),
                ),
            )
            .where(_within(created, months))
        )

    measures = (sa.func.count(), sa.func.count(sa.distinct(col(Submission.patient_id))))
    levels: list[tuple[list[Any], Callable[[tuple[Any, ...]], tuple[str, str]]]] = [
        ([month, channel], lambda r: (r[0], r[1])),
        ([month], lambda r: (r[0], "")),
        ([channel], lambda r: ("", r[0])),
        ([], lambda r: ("", "")),
    ]
    for keys, where in levels:
        statement = base(*keys, *measures)
        if keys:
            statement = statement.group_by(*keys)
        for row in _run(session, statement, trends):
            out["messages"][where(row)] = (int(row[-2] or 0), int(row[-1] or 0))


def add_counts(total: Counts, clinic: Counts, category: str | None = None) -> None:
    """Add one clinic's counts to the platform's (``category`` re-labels its received cases)."""
    for level, cells in clinic.items():
        for (month, cat), (value, patients) in cells.items():
            targets = [(level, month, cat)]
            if category is not None and level == "received":
                targets.append(("jurisdiction", month, category))
            for name, m, c in targets:
                old = total[name].get((m, c), (0, 0))
                total[name][(m, c)] = (old[0] + value, old[1] + patients)


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


def caption(label: str) -> str:
    """ "2026-11" → "Nov 2026"."""
    return datetime.strptime(label + "-01", "%Y-%m-%d").strftime("%b %Y")
