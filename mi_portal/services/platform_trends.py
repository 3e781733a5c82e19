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
  away (``services.platform_trend_tables``); hidden cells read "< 11" in the table and are
  gaps in the series.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
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
from mi_portal.services.platform_months import Month, month_of, within

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


# One clinic's aggregates: level → {(month or "", category or ""): (count, patients)}.
Counts = dict[str, dict[tuple[str, str], tuple[int, int]]]
# A checked statement and what to do with each of its rows.
Step = tuple[Any, Callable[[Counts, tuple[Any, ...]], None]]


def plan(months: Sequence[Month], trends: Sequence[str]) -> list[Step]:
    """The statements for the allowed ``trends``, checked once; run in each clinic's session
    (the tenant's criteria are added there, at execution)."""
    steps: list[Step] = []
    if {"trend_received_by_source", "trend_received_by_jurisdiction", "trend_funnel"} & set(trends):
        steps += _received(months, trends)
    if "trend_received_by_source" in trends:
        steps += _sources(months)
    if "trend_messages_by_channel" in trends:
        steps += _messages(months)
    return [(_check(statement, trends), handle) for statement, handle in steps]


def clinic_counts(session: ScopedSession, steps: Sequence[Step]) -> Counts:
    """One clinic's grouped counts (in its own session): only these tuples leave it."""
    out: Counts = defaultdict(dict)
    for statement, handle in steps:
        for row in session.execute(statement).all():
            handle(out, tuple(row))
    return out


def _received(months: Sequence[Month], trends: Sequence[str]) -> list[Step]:
    """Cases received (and, for the funnel, their disjoint parts): per month and overall."""
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
    where = within(received, months)
    return [
        (
            select(month, *measures).where(where).group_by(month),
            lambda out, row: _stages(out, row[0], row[1:]),
        ),
        (select(*measures).where(where), lambda out, row: _stages(out, "", row)),
    ]


def _stages(out: Counts, month: str, figures: Sequence[Any]) -> None:
    names = ("received", *(key for key, _label in STAGES))
    for k, stage in enumerate(names[: len(figures) // 2]):
        out[stage][(month, "")] = (int(figures[2 * k] or 0), int(figures[2 * k + 1] or 0))


def _put(
    level: str, month: Callable[[tuple[Any, ...]], str], category: Callable[[tuple[Any, ...]], str]
) -> Callable[[Counts, tuple[Any, ...]], None]:
    def handle(out: Counts, row: tuple[Any, ...]) -> None:
        out[level][(month(row), category(row))] = (int(row[-2] or 0), int(row[-1] or 0))

    return handle


def _sources(months: Sequence[Month]) -> list[Step]:
    """Cases per form they came through: per month, and over the whole range."""
    received = col(Submission.received_at)
    month = month_of(received, months).label("month")
    source = col(Submission.source).label("source")
    measures = (sa.func.count(), sa.func.count(sa.distinct(col(Submission.patient_id))))
    where = within(received, months)
    return [
        (
            select(month, source, *measures).where(where).group_by(month, source),
            _put("source", lambda r: r[0], lambda r: r[1]),
        ),
        (
            select(source, *measures).where(where).group_by(source),
            _put("source", lambda r: "", lambda r: r[0]),
        ),
    ]


def _messages(months: Sequence[Month]) -> list[Step]:
    """Messages written per channel and month, with the distinct patients of their cases."""
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
            .where(within(created, months))
        )

    measures = (sa.func.count(), sa.func.count(sa.distinct(col(Submission.patient_id))))
    return [
        (
            base(month, channel, *measures).group_by(month, channel),
            _put("messages", lambda r: r[0], lambda r: r[1]),
        ),
        (base(month, *measures).group_by(month), _put("messages", lambda r: r[0], lambda r: "")),
        (
            base(channel, *measures).group_by(channel),
            _put("messages", lambda r: "", lambda r: r[0]),
        ),
        (base(*measures), _put("messages", lambda r: "", lambda r: "")),
    ]


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
