"""SQL building blocks for the dashboards, the same figures on SQLite and PostgreSQL.

Every figure is an aggregate the database computes; these helpers hide what the two dialects
spell differently: the clinic-clock bucket of a UTC instant, hours between two instants, exact
sums of money and medians (window functions, which both have).

A bucket is labelled by its first day on the clinic's clock: a day "YYYY-MM-DD", a week its
Monday, a month "YYYY-MM-01". PostgreSQL converts with ``AT TIME ZONE``; SQLite knows no zones,
so the clinic's UTC offsets over the asked range are found here (each change of offset to the
second) and passed as a CASE over the instant: exact on both, summer time included.

The dashboard builds each statement once per ``Shape`` (dialect, grain, which filters, how many
offsets) and runs it again with new values (``bind``): building and hashing a statement costs
more than the database takes to run most of them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlmodel import col

from mi_portal.db import ScopedSession, TenantScopeError
from mi_portal.models import Submission
from mi_portal.models.base import UTCDateTime
from mi_portal.services.report_types import ReportQuery

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


@functools.lru_cache(maxsize=64)
def captions(date_from: date, date_to: date, grain: str) -> tuple[tuple[str, str], ...]:
    """Every bucket's (label, caption) over the range; the same few ranges come back all day."""
    return tuple(
        (label, bucket_caption(label, grain)) for label in bucket_labels(date_from, date_to, grain)
    )


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
    The zone's values are bound here; ``bound_bucket`` leaves them to the statement's run.
    """
    segments, values = zone_values(zone, start, end, dialect)
    return bound_bucket(column, grain, dialect, segments).params(values)


def zone_values(
    zone: str, start: datetime, end: datetime, dialect: str
) -> tuple[int, dict[str, Any]]:
    """The values ``bound_bucket`` reads, and (SQLite) how many offsets the range crosses."""
    if dialect == "postgresql":
        return 1, {"zone": zone}
    segments = offsets(zone, start, end)
    values: dict[str, Any] = {}
    for index, (until, minutes) in enumerate(segments):
        values[f"shift_{index}"] = _modifier(minutes)
        if until is not None:
            values[f"until_{index}"] = until
    return len(segments), values


def bound_bucket(column: Any, grain: str, dialect: str, segments: int) -> ColumnElement[str]:
    """``local_bucket`` with the zone (PostgreSQL) or its ``segments`` offsets (SQLite) left as
    parameters: ``:zone``, or ``:until_<i>`` (first instant of the next offset) and
    ``:shift_<i>`` (a date modifier such as "+60 minutes")."""
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}")
    if dialect == "postgresql":
        local = func.timezone(sa.bindparam("zone", type_=sa.String()), column)
        return func.to_char(func.date_trunc(grain, local), "YYYY-MM-DD")

    def shift_of(index: int) -> Any:
        return sa.bindparam(f"shift_{index}", type_=sa.String())

    shift: Any = shift_of(segments - 1)
    if segments > 1:
        whens = [
            (column < sa.bindparam(f"until_{i}", type_=UTCDateTime()), shift_of(i))
            for i in range(segments - 1)
        ]
        shift = sa.case(*whens, else_=shift)
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


def median_ranks(value: Any, group: Any = None) -> tuple[Any, Any]:
    """Window columns for a median of ``value`` (per ``group``): its rank among the group's
    values, NULLs apart, and how many values the group has."""
    partition = [value.is_(None)] if group is None else [group, value.is_(None)]
    rank = func.row_number().over(partition_by=partition, order_by=value)
    count = func.count(value).over(partition_by=group)
    return rank, count


def middle(value: Any, rank: Any, count: Any) -> ColumnElement[Any]:
    """``value`` on the middle row (odd count) or the middle two (even count), else NULL: their
    AVG is the median."""
    low = (count + 1) // 2
    high = (count + 2) // 2
    return sa.case((sa.and_(value.isnot(None), rank >= low, rank <= high), value), else_=sa.null())


def median_by(
    group: Any, value: Any, where: Sequence[Any], froms: Sequence[Any] = ()
) -> sa.Select[Any, Any]:
    """SELECT group, median(value) … GROUP BY group, with window functions (both dialects).

    Rows whose value is NULL are left out. ``group`` may be ``sa.literal(0)`` for one median.
    The middle row (odd count) or the mean of the middle two (even count) of each group.
    """
    rank, count = median_ranks(value, group)
    inner = sa.select(
        group.label("grp"), value.label("v"), rank.label("rn"), count.label("n")
    ).where(value.isnot(None), *where)
    for extra in froms:
        inner = inner.select_from(extra)
    ranked = inner.subquery("median_ranked")
    return sa.select(ranked.c.grp, func.avg(middle(ranked.c.v, ranked.c.rn, ranked.c.n))).group_by(
        ranked.c.grp
    )


def share(part: int, whole: int) -> str:
    """ "42.0 %" (one decimal), or "—" when there is nothing to divide."""
    if not whole:
        return "—"
    return f"{100.0 * part / whole:.1f} %"


# ---------------------------------------------------------------------------------------------
# Statements built once per shape, run with the view's values


class Shape(NamedTuple):
    """What decides a dashboard statement's text; every value of the view is bound instead."""

    dialect: str
    grain: str
    area: bool  # filtered by concern area (:area)
    source: bool  # filtered by source (:source)
    segments: int  # SQLite: the clinic's UTC offsets over the range (1 on PostgreSQL)


def bind(
    tenant_id: uuid.UUID,
    query: ReportQuery,
    zone: str,
    start: datetime,
    end: datetime,
    now: datetime,
    dialect: str,
) -> tuple[Shape, dict[str, Any]]:
    """The view's statement shape and the values its statements read."""
    segments, values = zone_values(zone, start, end, dialect)
    values.update(tenant=tenant_id, start=start, end=end, now=now)
    if query.concern_area:
        values["area"] = query.concern_area
    if query.source:
        values["source"] = query.source
    shape = Shape(dialect, query.grain, bool(query.concern_area), bool(query.source), segments)
    return shape, values


def rows(session: ScopedSession, statement: Any, values: dict[str, Any]) -> Sequence[Any]:
    """Run a dashboard statement on the session's connection (row-level security set for its
    clinic) rather than through the ORM's per-statement criteria, which would rebuild it: every
    table it reads is pinned to ``:tenant`` (the tests hold each shape to that), and ``:tenant``
    must be the session's own clinic."""
    if session.tenant_id is None or values.get("tenant") != session.tenant_id:
        raise TenantScopeError("a dashboard statement for another clinic than the session's")
    return session.connection().execute(statement, values).all()


def tenant_param() -> BindParameter[uuid.UUID]:
    """The clinic every table of a dashboard statement is pinned to."""
    return sa.bindparam("tenant", type_=sa.Uuid())


def moment(name: str) -> BindParameter[datetime]:
    """A bound UTC instant: ``start``, ``end`` or ``now``."""
    return sa.bindparam(name, type_=UTCDateTime())


def filters(shape: Shape) -> list[Any]:
    """The view's concern area and source, if it picked them."""
    conditions: list[Any] = []
    if shape.area:
        conditions.append(col(Submission.concern_area) == sa.bindparam("area", type_=sa.String()))
    if shape.source:
        conditions.append(col(Submission.source) == sa.bindparam("source", type_=sa.String()))
    return conditions


def case_filters(shape: Shape) -> list[Any]:
    """The clinic's cases of the view's concern area and source, whenever received."""
    return [col(Submission.tenant_id) == tenant_param(), *filters(shape)]


def one_of(column: Any, values: Sequence[str]) -> ColumnElement[bool]:
    """``column IN (…)`` of fixed values, as plain parameters: an expanding IN would render the
    statement's text anew on every run."""
    return column.in_([sa.literal(v) for v in values])


def in_range(column: Any) -> list[Any]:
    """``column`` within the view's [start, end)."""
    return [column >= moment("start"), column < moment("end")]


def cohort(shape: Shape) -> list[Any]:
    """The cases received in the range that match the filters."""
    return [*case_filters(shape), *in_range(col(Submission.received_at))]
