"""The clinic dashboard's timing figures and workload, each an aggregate the database computes.

Time to the first reply and to the first quote (a histogram of wall-clock hours from receipt and
the share on time against the clinic's targets) follow the cohort of cases received in the
range. A case without the reply (or quote) counts as late once its due time has passed only
while it is still open for that target (new or in review), as the queue's badge says: a case
archived or closed without one is not late forever. The workload is the open cases now, whatever the range; message volume and deliveries
count what was written or queued in the range. The concern-area and source filters apply to
every figure. Messages and deliveries are in ``report_traffic``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_, func
from sqlmodel import col

from mi_portal.db import ScopedSession
from mi_portal.models import Submission, SubmissionStatus, Tenant, User
from mi_portal.services import report_sql, report_traffic
from mi_portal.services.inbox import OPEN_FOR_SLA
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
REPLY, QUOTE = 0, 1  # the targets, as the timing statement tells their rows apart


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
    """Charts first_response, first_quote, workload, messages, delivery_failures and their stats
    (the open cases now among them).

    ``session`` is the clinic's tenant session; ``start``/``end`` the range's UTC instants
    [start, end); ``now`` the current UTC time (open cases' ages and overdue targets).
    """
    dialect = session.get_bind().dialect.name
    shape, values = report_sql.bind(tenant.id, query, tenant.timezone, start, end, now, dialect)
    reply, quote = _timings(report_sql.rows(session, timing_statement(shape), values))
    workload, open_now = _workload(report_sql.rows(session, workload_statement(shape), values))
    charts = [
        _timing_chart("first_response", "Time to first reply", "reply", reply),
        _timing_chart("first_quote", "Time to first quote", "quote", quote),
        workload,
        report_traffic.messages_chart(session, query, shape, values),
        report_traffic.delivery_failures_chart(session, shape, values),
    ]
    stats = [
        _reply_on_time(reply),
        Stat(
            "first_reply_median",
            "Median time to first reply",
            _hours(reply.median),
            "Wall-clock hours from receipt",
        ),
        _on_time("quote_on_time", "Quotes on time", "quote", quote),
        Stat("open_now", "Open cases now", f"{open_now:,}", "New, in review or quoted"),
    ]
    return charts, stats


def _hours(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.1f} h"


def _on_time(key: str, label: str, what: str, timing: _Timing) -> Stat:
    hint = f"{timing.met} of {timing.judged} cases with a {what} target met it"
    return Stat(key, label, timing.on_time, hint if timing.judged else "")


# ---------------------------------------------------------------------------------------------
# Time to first reply / first quote


def _target(shape: report_sql.Shape, which: int, done: Any, due: Any) -> Any:
    """One target's rows: per bin (NULL: not done), the cases, met / missed / overdue (still
    owed past its due time) and, on every row, the median hours to done of the whole cohort."""
    hours = report_sql.hours_between(col(Submission.received_at), done, shape.dialect)
    # Bins compare whole seconds: SQLite's day fractions would put an answer at exactly one
    # hour a hair either side of the bound, PostgreSQL's epoch is exact.
    seconds = func.round(hours * 3600)
    whens: list[tuple[Any, Any]] = [(done.is_(None), sa.null())]
    whens += [
        (seconds < sa.literal_column(str(int(upper * 3600))), sa.literal_column(str(index)))
        for index, (_, upper) in enumerate(BINS)
        if upper is not None
    ]
    bin_of = sa.case(*whens, else_=sa.literal_column(str(len(BINS) - 1)))
    moment = report_sql.moment("now")
    met = sa.case((and_(done.isnot(None), due.isnot(None), done <= due), 1), else_=0)
    missed = sa.case((and_(done.isnot(None), due.isnot(None), done > due), 1), else_=0)
    # Still owed: the case waits for it (new or in review) and its due time has passed.
    owed = report_sql.one_of(col(Submission.status), OPEN_FOR_SLA)
    overdue = sa.case((and_(done.is_(None), due.isnot(None), due < moment, owed), 1), else_=0)
    rank, count = report_sql.median_ranks(hours)
    ranked = (
        sa.select(
            bin_of.label("bin"),
            hours.label("hours"),
            met.label("met"),
            missed.label("missed"),
            overdue.label("overdue"),
            rank.label("rn"),
            count.label("n"),
        )
        .where(*report_sql.cohort(shape))
        .subquery(f"ranked_{which}")
    )
    median = func.avg(report_sql.middle(ranked.c.hours, ranked.c.rn, ranked.c.n)).over()
    timed = sa.select(
        ranked.c.bin, ranked.c.met, ranked.c.missed, ranked.c.overdue, median.label("median")
    ).subquery(f"timed_{which}")
    return sa.select(
        sa.literal_column(str(which)).label("target"),
        timed.c.bin,
        func.count(),
        func.sum(timed.c.met),
        func.sum(timed.c.missed),
        func.sum(timed.c.overdue),
        func.max(timed.c.median),
    ).group_by(timed.c.bin)


@functools.lru_cache(maxsize=64)
def timing_statement(shape: report_sql.Shape) -> Any:
    """Both targets' histograms, on-time counts and medians in one statement (one row per
    target and bin)."""
    return sa.union_all(
        reply_statement(shape),
        _target(shape, QUOTE, col(Submission.quote_sent_at), col(Submission.sla_due_at)),
    )


@functools.lru_cache(maxsize=64)
def reply_statement(shape: report_sql.Shape) -> Any:
    """The first reply's rows of ``timing_statement`` alone (the home page's summary)."""
    return _target(
        shape, REPLY, col(Submission.first_response_at), col(Submission.first_response_due_at)
    )


def first_reply_on_time(
    session: ScopedSession, shape: report_sql.Shape, values: dict[str, Any]
) -> Stat:
    """The share of first replies on time alone, as ``timing_charts`` gives it, from one
    statement; ``shape``/``values`` are the view's (``report_sql.bind``)."""
    reply, _ = _timings(report_sql.rows(session, reply_statement(shape), values))
    return _reply_on_time(reply)


def _reply_on_time(reply: _Timing) -> Stat:
    return _on_time("first_reply_on_time", "First replies on time", "reply", reply)


def _timings(found: Any) -> tuple[_Timing, _Timing]:
    """The reply's and the quote's figures from the rows of ``timing_statement``."""
    bins = [[0] * len(BINS), [0] * len(BINS)]
    totals = [[0, 0, 0], [0, 0, 0]]
    medians: list[float | None] = [None, None]
    for which, index, count, *sums, median in found:
        if index is not None:
            bins[which][int(index)] = int(count)
        totals[which] = [t + int(s or 0) for t, s in zip(totals[which], sums, strict=True)]
        if median is not None:
            medians[which] = float(median)
    reply, quote = (
        _Timing(bins[w], totals[w][0], totals[w][1], totals[w][2], medians[w])
        for w in (REPLY, QUOTE)
    )
    return reply, quote


def _timing_chart(key: str, title: str, what: str, timing: _Timing) -> Chart:
    """The histogram (its title is its first column) with the share on time as caption."""
    caption = f"On time against the clinic's {what} target: {timing.on_time}"
    if timing.judged:
        caption += f" ({timing.met} of {timing.judged})"
    caption += f". Median {_hours(timing.median)} from receipt. A case without a {what} past"
    caption += " its target counts as late while it is new or in review."
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


@functools.lru_cache(maxsize=64)
def workload_statement(shape: report_sql.Shape) -> Any:
    """Open cases now (whatever the range) per assignee, their median age in days and the
    assignee's name: grouped first, then each of the few names looked up by its key."""
    age = report_sql.hours_between(
        col(Submission.received_at), report_sql.moment("now"), shape.dialect
    ) / sa.literal(24.0)
    who = col(Submission.assignee_id)
    rank, count = report_sql.median_ranks(age, who)
    ranked = (
        sa.select(who.label("who"), age.label("age"), rank.label("rn"), count.label("n"))
        .where(
            *report_sql.case_filters(shape),
            report_sql.one_of(col(Submission.status), OPEN_STATUSES),
        )
        .subquery("open_cases")
    )
    per_person = (
        sa.select(
            ranked.c.who,
            func.count().label("cases"),
            func.avg(report_sql.middle(ranked.c.age, ranked.c.rn, ranked.c.n)).label("median"),
        )
        .group_by(ranked.c.who)
        .subquery("workload")
    )
    name = sa.select(col(User.full_name)).where(col(User.id) == per_person.c.who)
    return sa.select(
        per_person.c.who, name.scalar_subquery(), per_person.c.cases, per_person.c.median
    )


def _workload(found: Any) -> tuple[Chart, int]:
    """The workload chart from the rows of ``workload_statement``, and the open cases in all."""
    people = [(who, name, int(n), median) for who, name, n, median in found]
    columns = ["Assignee", "Open cases", "Median age (days)"]
    if not people:
        return Chart("workload", "Open cases per assignee", "hbar", [], [], columns, []), 0
    people.sort(key=lambda p: (-p[2], p[0] is None, (p[1] or "").casefold()))
    names = [UNASSIGNED if who is None else name or UNASSIGNED for who, name, _, _ in people]
    medians = [None if m is None else round(float(m), 1) for _, _, _, m in people]
    chart = Chart(
        key="workload",
        title="Open cases per assignee",
        kind="hbar",
        x=names,
        series=[
            Series("Open cases", [float(n) for _, _, n, _ in people]),
            Series("Median age (days)", list(medians)),
        ],
        columns=columns,
        rows=[
            [name, str(n), EMPTY if m is None else f"{m:.1f}"]
            for name, (_, _, n, _), m in zip(names, people, medians, strict=True)
        ],
        caption="Cases new, in review or quoted now, whatever the dates chosen.",
        x_title="Open cases",
    )
    return chart, sum(n for _, _, n, _ in people)
