"""SQL building blocks for the dashboards, the same figures on SQLite and PostgreSQL.

Every figure is an aggregate the database computes; these helpers hide what the two dialects
spell differently: the clinic-clock bucket of a UTC instant, hours between two instants, exact
sums of money and medians (window functions, which both have).

A bucket is labelled by its first day on the clinic's clock: a day "YYYY-MM-DD", a week its
Monday, a month "YYYY-MM-01". PostgreSQL converts with ``AT TIME ZONE``; SQLite knows no zones,
so the clinic's UTC offsets over the asked range are found here (each change of offset to the
second) and passed as a CASE over the instant: exact on both, summer time included.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

from mi_portal.models.base import UTCDateTime

GRAINS = ("day", "week", "month")
_DAY = timedelta(days=1)


def utc_range(zone: str, date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the clinic-local days ``date_from``..``date_to`` (inclusive)."""
    where = ZoneInfo(zone)
    start = datetime.combine(date_from, time(0), where).astimezone(UTC)
    end = datetime.combine(date_to + _DAY, time(0), where).astimezone(UTC)
    return start, end


def bucket_start(day: date, grain: str) -> date:
    """The first day of the bucket holding ``day``."""
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown grain {grain!r}")


def bucket_labels(date_from: date, date_to: date, grain: str) -> list[str]:
    """Every bucket's label from the one holding ``date_from`` to the one holding ``date_to``."""
    labels: list[str] = []
    current = bucket_start(date_from, grain)
    while current <= date_to:
        labels.append(current.isoformat())
        if grain == "day":
            current += _DAY
        elif grain == "week":
            current += timedelta(days=7)
        else:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return labels


def bucket_count(date_from: date, date_to: date, grain: str) -> int:
    first, last = bucket_start(date_from, grain), bucket_start(date_to, grain)
    if grain == "day":
        return (last - first).days + 1
    if grain == "week":
        return (last - first).days // 7 + 1
    return (last.year - first.year) * 12 + last.month - first.month + 1


def bucket_caption(label: str, grain: str) -> str:
    """How a bucket is shown: "2 Nov 2026", "Week of 2 Nov 2026", "Nov 2026"."""
    day = date.fromisoformat(label)
    if grain == "month":
        return f"{day:%b %Y}"
    text = f"{day.day} {day:%b %Y}"
    return f"Week of {text}" if grain == "week" else text


@functools.lru_cache(maxsize=256)
def offsets(zone: str, start: datetime, end: datetime) -> tuple[tuple[datetime | None, int], ...]:
    """The zone's UTC offsets (minutes) over [start, end): ((until, offset), …, (None, last)).

    ``until`` is the first instant of the next offset. Offsets change at most a few times a
    year, so stepping by day and bisecting each change to the second is cheap.
    """
    where = ZoneInfo(zone)

    def offset_at(moment: datetime) -> int:
        delta = moment.astimezone(where).utcoffset() or timedelta(0)
        return int(delta.total_seconds() // 60)

    segments: list[tuple[datetime | None, int]] = []
    current = offset_at(start)
    probe = start
    while probe < end:
        step = min(probe + _DAY, end)
        if offset_at(step) != current:
            low, high = probe, step  # offset(low) == current, offset(high) differs
            while high - low > timedelta(seconds=1):
                mid = low + (high - low) / 2
                if offset_at(mid) == current:
                    low = mid
                else:
                    high = mid
            high = high.replace(microsecond=0)
            segments.append((high, current))
            current = offset_at(high)
        probe = step
    segments.append((None, current))
    return tuple(segments)


def _modifier(minutes: int) -> str:
    return f"{minutes:+d} minutes"


def local_bucket(
    column: Any, zone: str, grain: str, start: datetime, end: datetime, dialect: str
) -> ColumnElement[str]:
    """The label (text) of the bucket on the clinic's clock holding the instant ``column``.

    ``start``/``end`` bound the instants the statement reads (SQLite needs the offsets there).
    """
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}")
    if dialect == "postgresql":
        local = func.timezone(zone, column)
        return func.to_char(func.date_trunc(grain, local), "YYYY-MM-DD")
    segments = offsets(zone, start, end)
    if len(segments) == 1:
        shift: Any = sa.literal(_modifier(segments[0][1]))
    else:
        whens = [
            (column < sa.literal(until, UTCDateTime), sa.literal(_modifier(minutes)))
            for until, minutes in segments[:-1]
        ]
        shift = sa.case(*whens, else_=sa.literal(_modifier(segments[-1][1])))
    if grain == "day":
        return func.date(column, shift)
    if grain == "week":
        # Back six days, then forward to the next Monday: the Monday on or before the day.
        return func.date(column, shift, "-6 days", "weekday 1")
    return func.strftime("%Y-%m-01", column, shift)


def hours_between(earlier: Any, later: Any, dialect: str) -> ColumnElement[Any]:
    """Wall-clock hours from ``earlier`` to ``later`` (a float; NULL if either is NULL)."""
    if dialect == "postgresql":
        return sa.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def money_cents_sum(column: Any, dialect: str) -> ColumnElement[int]:
    """SUM of a ``Money`` column in whole cents, exact on both databases (SQLite keeps text)."""
    if dialect == "postgresql":
        return sa.cast(func.sum(column * 100), sa.BigInteger)
    as_number = sa.cast(sa.type_coerce(column, sa.String), sa.Numeric)
    return sa.cast(func.sum(sa.cast(func.round(as_number * 100), sa.Integer)), sa.Integer)


def cents(value: Any) -> Decimal:
    """A cents sum (``money_cents_sum``) as an exact amount; NULL (no rows) is zero."""
    return (Decimal(int(value or 0)) / 100).quantize(Decimal("0.01"))


def median_by(
    group: Any, value: Any, where: Sequence[Any], froms: Sequence[Any] = ()
) -> sa.Select[Any, Any]:
    """SELECT group, median(value) … GROUP BY group, with window functions (both dialects).

    Rows whose value is NULL are left out. ``group`` may be ``sa.literal(0)`` for one median.
    The middle row (odd count) or the mean of the middle two (even count) of each group.
    """
    inner = sa.select(group.label("grp"), value.label("v")).where(value.isnot(None), *where)
    for extra in froms:
        inner = inner.select_from(extra)
    ranked_src = inner.subquery("median_src")
    ranked = sa.select(
        ranked_src.c.grp,
        ranked_src.c.v,
        func.row_number().over(partition_by=ranked_src.c.grp, order_by=ranked_src.c.v).label("rn"),
        func.count().over(partition_by=ranked_src.c.grp).label("n"),
    ).subquery("median_ranked")
    low = (ranked.c.n + 1) // 2
    high = (ranked.c.n + 2) // 2
    return (
        sa.select(ranked.c.grp, func.avg(ranked.c.v))
        .where(ranked.c.rn >= low, ranked.c.rn <= high)
        .group_by(ranked.c.grp)
    )


def share(part: int, whole: int) -> str:
    """ "42.0 %" (one decimal), or "—" when there is nothing to divide."""
    if not whole:
        return "—"
    return f"{100.0 * part / whole:.1f} %"
