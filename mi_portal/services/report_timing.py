"""The clinic dashboard's timing figures and workload, each an aggregate the database computes.

Time to the first reply and to the first quote (a histogram of wall-clock hours from receipt and
the share on time against the clinic's targets) follow the cohort of cases received in the
range; the workload is the open cases now, whatever the range; message volume and deliveries
count what was written or queued in the range. The concern-area and source filters apply to
every figure. Messages and deliveries are in ``report_traffic``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, func
from sqlmodel import col

from mi_portal.db import ScopedSession
from mi_portal.models import Submission, SubmissionStatus, Tenant, User
from mi_portal.models.base import UTCDateTime
from mi_portal.services import report_sql, report_traffic
from mi_portal.services.report_types import Chart, ReportQuery, Series, Stat

EMPTY = "—"
UNASSIGNED = "Unassigned"
# Histogram bins of wall-clock hours from receipt: (label, upper bound, exclusive).
BINS: tuple[tuple[str, float | None], ...] = (
    ("< 1 h", 1),
    ("1–4 h", 4),
    ("4–8 h", 8),
    ("8–24 h", 24),
    ("1–2 days", 48),
    ("2–7 days", 168),
    ("> 7 days", None),
)
OPEN_STATUSES = (
    SubmissionStatus.NEW.value,
    SubmissionStatus.IN_REVIEW.value,
    SubmissionStatus.QUOTED.value,
)


@dataclass(frozen=True)
class _Timing:
    """One target's figures: cases per bin, met / missed / overdue unanswered, median hours."""

    bins: list[int]
    met: int
    missed: int
    overdue: int
    median: float | None

    @property
    def judged(self) -> int:
        return self.met + self.missed + self.overdue

    @property
    def on_time(self) -> str:
        return report_sql.share(self.met, self.judged)


def timing_charts(
    session: ScopedSession,
    tenant: Tenant,
    query: ReportQuery,
    start: datetime,
    end: datetime,
    now: datetime,
) -> tuple[list[Chart], list[Stat]]:
    """Charts first_response, first_quote, workload, messages, delivery_failures and their stats.

    ``session`` is the clinic's tenant session; ``start``/``end`` the range's UTC instants
    [start, end); ``now`` the current UTC time (open cases' ages and overdue targets).
    """
    dialect = session.get_bind().dialect.name
    cases = report_traffic.case_filters(tenant.id, query)
    cohort = [
        *cases,
        col(Submission.received_at) >= start,
        col(Submission.received_at) < end,
    ]
    reply = _timing(
        session, dialect, cohort, col(Submission.first_response_at),
        col(Submission.first_response_due_at), now,
    )  # fmt: skip
    quote = _timing(
        session, dialect, cohort, col(Submission.quote_sent_at), col(Submission.sla_due_at), now
    )
    charts = [
        _timing_chart("first_response", "Time to first reply", "reply", reply),
        _timing_chart("first_quote", "Time to first quote", "quote", quote),
        _workload(session, dialect, cases, now),
        report_traffic.messages_chart(session, tenant, query, start, end, dialect),
        report_traffic.delivery_failures_chart(session, tenant.id, query, start, end),
    ]
    stats = [
        _on_time("first_reply_on_time", "First replies on time", "reply", reply),
        Stat(
            "first_reply_median",
            "Median time to first reply",
            _hours(reply.median),
            "Wall-clock hours from receipt",
        ),
        _on_time("quote_on_time", "Quotes on time", "quote", quote),
    ]
    return charts, stats


def _hours(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.1f} h"


def _on_time(key: str, label: str, what: str, timing: _Timing) -> Stat:
    hint = f"{timing.met} of {timing.judged} cases with a {what} target met it"
    return Stat(key, label, timing.on_time, hint if timing.judged else "")


# ---------------------------------------------------------------------------------------------
# Time to first reply / first quote


def _timing(
    session: ScopedSession,
    dialect: str,
    cohort: list[Any],
    done: Any,
    due: Any,
    now: datetime,
) -> _Timing:
    """The histogram and the on-time counts in one grouped statement, the median in another."""
    hours = report_sql.hours_between(col(Submission.received_at), done, dialect)
    # Bins compare whole seconds: SQLite's day fractions would put an answer at exactly one
    # hour a hair either side of the bound, PostgreSQL's epoch is exact.
    seconds = func.round(hours * 3600)
    whens: list[tuple[Any, Any]] = [(done.is_(None), sa.null())]
    whens += [
        (seconds < sa.literal_column(str(int(upper * 3600))), sa.literal_column(str(index)))
        for index, (_, upper) in enumerate(BINS)
        if upper is not None
    ]
    bin_of = sa.case(*whens, else_=sa.literal_column(str(len(BINS) - 1))).label("bin")
    moment = sa.literal(now, UTCDateTime)
    met = sa.case((and_(done.isnot(None), due.isnot(None), done <= due), 1), else_=0)
    missed = sa.case((and_(done.isnot(None), due.isnot(None), done > due), 1), else_=0)
    overdue = sa.case((and_(done.is_(None), due.isnot(None), due < moment), 1), else_=0)
    statement = (
        sa.select(bin_of, func.count(), func.sum(met), func.sum(missed), func.sum(overdue))
        .where(*cohort)
        .group_by(bin_of)
    )
    bins = [0] * len(BINS)
    totals = [0, 0, 0]
    for index, count, *sums in session.execute(statement).all():
        if index is not None:
            bins[int(index)] = int(count)
        totals = [t + int(s or 0) for t, s in zip(totals, sums, strict=True)]
    median = None
    if any(bins):  # the median of no answers is no statement at all
        medians = session.execute(report_sql.median_by(sa.literal(0), hours, cohort)).all()
        median = float(medians[0][1]) if medians else None
    return _Timing(bins, totals[0], totals[1], totals[2], median)


def _timing_chart(key: str, title: str, what: str, timing: _Timing) -> Chart:
    """The histogram (its title is its first column) with the share on time as caption."""
    caption = f"On time against the clinic's {what} target: {timing.on_time}"
    if timing.judged:
        caption += f" ({timing.met} of {timing.judged})"
    caption += f". Median {_hours(timing.median)} from receipt."
    if not any(timing.bins):
        return Chart(key, title, "bar", [], [], [title, "Cases"], [], caption=caption)
    labels = [label for label, _ in BINS]
    return Chart(
        key=key,
        title=title,
        kind="bar",
        x=labels,
        series=[Series("Cases", [float(n) for n in timing.bins])],
        columns=[title, "Cases"],
        rows=[[label, str(n)] for label, n in zip(labels, timing.bins, strict=True)],
        caption=caption,
        x_title="Wall-clock time from receipt",
        y_title="Cases",
    )


# ---------------------------------------------------------------------------------------------
# Workload


def _workload(session: ScopedSession, dialect: str, cases: list[Any], now: datetime) -> Chart:
    """Open cases now per assignee (whatever the date range) and their median age in days."""
    open_now = [*cases, col(Submission.status).in_(OPEN_STATUSES)]
    counts = (
        sa.select(col(Submission.assignee_id), col(User.full_name), func.count())
        .select_from(Submission)
        .outerjoin(User, col(User.id) == Submission.assignee_id)
        .where(*open_now)
        .group_by(col(Submission.assignee_id), col(User.full_name))
    )
    people = [(who, name, int(n)) for who, name, n in session.execute(counts).all()]
    columns = ["Assignee", "Open cases", "Median age (days)"]
    if not people:
        return Chart("workload", "Open cases per assignee", "hbar", [], [], columns, [])
    age = report_sql.hours_between(
        col(Submission.received_at), sa.literal(now, UTCDateTime), dialect
    ) / sa.literal(24.0)
    ages = {
        who: float(days)
        for who, days in session.execute(
            report_sql.median_by(col(Submission.assignee_id), age, open_now)
        ).all()
    }
    people.sort(key=lambda p: (-p[2], p[0] is None, (p[1] or "").casefold()))
    names = [UNASSIGNED if who is None else name or UNASSIGNED for who, name, _ in people]
    medians = [round(ages[who], 1) if who in ages else None for who, _, _ in people]
    return Chart(
        key="workload",
        title="Open cases per assignee",
        kind="hbar",
        x=names,
        series=[
            Series("Open cases", [float(n) for _, _, n in people]),
            Series("Median age (days)", list(medians)),
        ],
        columns=columns,
        rows=[
            [name, str(n), EMPTY if m is None else f"{m:.1f}"]
            for name, (_, _, n), m in zip(names, people, medians, strict=True)
        ],
        caption="Cases new, in review or quoted now, whatever the dates chosen.",
        x_title="Open cases",
    )
