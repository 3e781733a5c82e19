"""Cross-clinic trends for the platform: the one reviewed path from clinic rows to a platform figure.

* ``TREND_COLUMNS`` declares, per trend, every column its SQL may group by, filter on or count.
  Before anything runs, each declared column's category tag (``column.info["category"]``) is
  checked: a trend that would read a ``special_category`` or ``health_image`` column is left out
  of the report, not computed. Each statement is checked again before it runs: it may read
  only declared columns of trends still allowed (and the tenant keys the joins use).
* Each clinic's figures are computed in its own read-only tenant session (row-level security on
  PostgreSQL, the ORM's tenant criteria everywhere), one statement grouped by month per kind of
  trend; only per-month counts leave it (each cell's count, and the distinct patients of each
  cell and of each union of cells), and the session is rolled back.
* Each row (one month) is additive: its cells are disjoint parts of the row's total. The
  received-case trends' total is the cases received that month, public anyway (it is the sum
  of the usage table's cases), so their suppression treats it as known; the funnel is shown as
  disjoint parts (not quoted, quoted only, accepted), not as nested stages. Messages have no
  total shown.
* The sums over clinics are exact (a patient is a row of one clinic, so distinct counts add up),
  then ``services.suppression`` hides, month by month, every cell of 1–10 patients and whatever
  would give one away (``services.platform_trend_tables``); hidden cells read "< 11" in the
  table and are gaps in the series. Nothing is summed over months, so a month reads the same
  whatever range is asked for.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
from mi_portal.services import suppression
from mi_portal.services.platform_months import Month, month_of, within

REFUSED = frozenset({DataCategory.SPECIAL_CATEGORY.value, DataCategory.HEALTH_IMAGE.value})

# Every column a trend reads ("table.column"). Changing this list is a privacy review.
TREND_COLUMNS: dict[str, tuple[str, ...]] = {
    "trend_received_by_source": (
        "submission.received_at",
        "submission.patient_id",
        "submission.source",
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


def _check(statement: Any, trends: Sequence[str]) -> Any:
    """``statement`` if it reads only declared columns of ``trends`` (and tenant keys), each
    still tagged neither special category nor image in the metadata."""
    allowed = {n for key in trends for n in TREND_COLUMNS[key]}
    for element in visitors.iterate(statement):
        if isinstance(element, sa.Column) and isinstance(element.table, sa.Table):
            name = f"{element.table.name}.{element.name}"
            if element.name == "tenant_id":
                continue
            if name not in allowed or _column(name).info.get("category") in REFUSED:
                raise UndeclaredColumn(name)
    return statement


@dataclass
class Tally:
    """One month of one trend: each cell's count, the row's total count (the cases received;
    0 where no total is shown) and the distinct patients of every union of cells computed."""

    values: list[int]
    total: int = 0
    patients: dict[frozenset[int], int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        """Add another clinic's figures (its patients are its own rows: counts add up)."""
        self.values = [a + b for a, b in zip(self.values, other.values, strict=True)]
        self.total += other.total
        for cells, patients in other.patients.items():
            self.patients[cells] = self.patients.get(cells, 0) + patients


# One clinic's (or the platform's) aggregates: trend key → month "YYYY-MM" → tally.
Counts = dict[str, dict[str, Tally]]
# A checked statement and what to do with each of its rows.
Step = tuple[Any, Callable[[Counts, tuple[Any, ...]], None]]


def plan(months: Sequence[Month], trends: Sequence[str]) -> list[Step]:
    """The statements for the allowed ``trends``, checked once; run in each clinic's session
    (the tenant's criteria are added there, at execution)."""
    steps: list[Step] = []
    if {"trend_received_by_source", "trend_funnel"} & set(trends):
        steps.append(_received(months, trends))
    if "trend_messages_by_channel" in trends:
        steps.append(_messages(months))
    return [(_check(statement, trends), handle) for statement, handle in steps]


def clinic_counts(session: ScopedSession, steps: Sequence[Step]) -> Counts:
    """One clinic's grouped counts (in its own session): only these figures leave it."""
    out: Counts = defaultdict(dict)
    for statement, handle in steps:
        for row in session.execute(statement).all():
            handle(out, tuple(row))
    return out


def _measures(predicates: Sequence[Any], patient: Any, *, unions: bool) -> list[Any]:
    """Per cell, its count; then the distinct patients of each cell (or of each union of cells)."""
    counts = [sa.func.count(sa.case((p, 1))) for p in predicates]
    sets = (
        suppression.unions(len(predicates))
        if unions
        else [frozenset([j]) for j in range(len(predicates))]
    )
    patients = [
        sa.func.count(sa.distinct(sa.case((sa.or_(*[predicates[j] for j in sorted(s)]), patient))))
        for s in sets
    ]
    return counts + patients


def _tally(figures: Sequence[Any], width: int, *, unions: bool, total: int = 0) -> Tally:
    sets = suppression.unions(width) if unions else [frozenset([j]) for j in range(width)]
    values = [int(v or 0) for v in figures[:width]]
    patients = {s: int(v or 0) for s, v in zip(sets, figures[width:], strict=True)}
    return Tally(values, total, patients)


def _received(months: Sequence[Month], trends: Sequence[str]) -> Step:
    """Cases received per month: the count (the row total), then each allowed trend's cells."""
    received = col(Submission.received_at)
    patient = col(Submission.patient_id)
    month = month_of(received, months).label("month")
    parts: list[tuple[str, list[Any]]] = []
    if "trend_received_by_source" in trends:
        source = col(Submission.source)
        parts.append(("trend_received_by_source", [source == code for code, _l in SOURCES]))
    if "trend_funnel" in trends:
        accepted = sa.exists().where(
            col(Quote.tenant_id) == col(Submission.tenant_id),
            col(Quote.submission_id) == col(Submission.id),
            col(Quote.status) == QuoteStatus.ACCEPTED.value,
        )
        quoted = sa.or_(col(Submission.quote_sent_at).is_not(None), accepted)
        stages = [sa.not_(quoted), sa.and_(quoted, sa.not_(accepted)), accepted]
        parts.append(("trend_funnel", stages))
    measures: list[Any] = [sa.func.count()]
    for _key, predicates in parts:
        measures += _measures(predicates, patient, unions=True)

    def handle(out: Counts, row: tuple[Any, ...]) -> None:
        label, total, at = row[0], int(row[1] or 0), 2
        for key, predicates in parts:
            width = len(predicates)
            size = width + len(suppression.unions(width))
            out[key][label] = _tally(row[at : at + size], width, unions=True, total=total)
            at += size

    statement = select(month, *measures).where(within(received, months)).group_by(month)
    return statement, handle


def _messages(months: Sequence[Month]) -> Step:
    """Messages written per channel and month, with the distinct patients of their cases."""
    created = col(Message.created_at)
    month = month_of(created, months).label("month")
    channel = col(Message.channel)
    predicates = [channel == code for code, _l in CHANNELS]
    statement = (
        sa.select(month, *_measures(predicates, col(Submission.patient_id), unions=False))
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
        .where(within(created, months))
        .group_by(month)
    )

    def handle(out: Counts, row: tuple[Any, ...]) -> None:
        out["trend_messages_by_channel"][row[0]] = _tally(row[1:], len(CHANNELS), unions=False)

    return statement, handle


def add_counts(total: Counts, clinic: Counts) -> None:
    """Add one clinic's counts to the platform's."""
    for key, months in clinic.items():
        for label, tally in months.items():
            if label in total[key]:
                total[key][label].add(tally)
            else:
                total[key][label] = Tally(list(tally.values), tally.total, dict(tally.patients))
