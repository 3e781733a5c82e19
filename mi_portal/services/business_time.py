"""Business time over a clinic's calendar: its time zone, weekly opening hours and closed days.

Opening hours are wall-clock hours in the clinic's zone: a 09:00–17:00 day counts 8 business
hours even on the day the clocks change, and a due time is found on the local wall clock and
only then converted back to UTC. A calendar with no opening hours at all (``{}``) counts every
hour of every day as elapsed time, less any closed days.

Pure functions: no database, no clock. ``calendar_for`` reads the three fields of a ``Tenant``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
# How far ahead a due time is looked for before the calendar is declared to have no open time.
SEARCH_DAYS = 3 * 366
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class CalendarProblem(ValueError):
    """Opening hours, closed days or a time zone that cannot be used; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NoOpenTime(ValueError):
    """The calendar has no open time within the search window (a due time cannot be found)."""


@dataclass(frozen=True)
class Calendar:
    """A clinic's calendar; build it with ``calendar_for`` or ``make_calendar``."""

    zone: ZoneInfo
    # Weekday (0 = Monday) → (opens, closes), local wall clock. Empty: every hour counts.
    hours: tuple[tuple[int, time, time], ...]
    closed: frozenset[date]

    @property
    def always(self) -> bool:
        return not self.hours

    @functools.cached_property
    def _by_weekday(self) -> dict[int, tuple[time, time]]:
        return {day: (opens, closes) for day, opens, closes in self.hours}


# The areas of canonical IANA names ("Europe/Berlin"); legacy aliases such as "GB", "EST5EDT",
# "US/Eastern" or "Etc/GMT+5" are not offered, not accepted and not used.
ZONE_AREAS = frozenset(
    {
        "Africa",
        "America",
        "Antarctica",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    }
)


def zone(name: str | None) -> ZoneInfo:
    """The clinic's zone; UTC for an empty one or one not in ``zone_names`` (a bad row must not
    crash, and what is shown must follow the same clock as what is counted)."""
    return _zone(name if name and is_zone_name(name) else "UTC")


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@functools.lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """The one list of time zones a clinic can have, sorted: "Area/City" names and "UTC".

    The picker offers these, creating a clinic and saving its settings accept only these, and
    a calendar is built only in one of these (anything else counts as UTC).
    """
    return tuple(
        sorted(n for n in available_timezones() if n == "UTC" or n.split("/", 1)[0] in ZONE_AREAS)
    )


@functools.lru_cache(maxsize=1)
def _zone_set() -> frozenset[str]:
    return frozenset(zone_names())


def is_zone_name(name: object) -> bool:
    """Whether ``name`` is in ``zone_names``."""
    return isinstance(name, str) and name in _zone_set()


def parse_time(value: object, field: str) -> time:
    """'HH:MM' (24-hour clock) → time; anything else is a ``CalendarProblem`` on ``field``."""
    match = _HHMM.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise CalendarProblem(field, "Use a 24-hour time such as 09:00.")
    return time(int(match.group(1)), int(match.group(2)))


def parse_hours(raw: object) -> dict[str, tuple[time, time]]:
    """Validate weekly hours {"mon": ["09:00", "17:00"], …}; a missing day is closed.

    Each open day is one span on one day: it opens before it closes, and a span cannot run past
    midnight (enter a night shift as two days). Errors name the weekday (its key).
    """
    if not isinstance(raw, Mapping):
        raise CalendarProblem("hours", "Opening hours are a list of days.")
    result: dict[str, tuple[time, time]] = {}
    for key, span in raw.items():
        if key not in DAY_NAMES:
            raise CalendarProblem("hours", f"Unknown weekday {str(key)[:10]!r}.")
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise CalendarProblem(key, "Give an opening and a closing time.")
        opens, closes = parse_time(span[0], key), parse_time(span[1], key)
        if closes <= opens:
            raise CalendarProblem(
                key,
                "Closing time must be after opening time; hours cannot run past midnight "
                "(enter the part after midnight on the next day).",
            )
        result[key] = (opens, closes)
    return result


def parse_closed_days(raw: object) -> list[date]:
    """ISO dates (YYYY-MM-DD), without repeats, sorted."""
    if not isinstance(raw, list | tuple):
        raise CalendarProblem("closed_days", "Closed days are a list of dates.")
    days: set[date] = set()
    for value in raw:
        try:
            days.add(date.fromisoformat(str(value).strip()))
        except ValueError:
            raise CalendarProblem("closed_days", "Use a date such as 2026-12-25.") from None
    return sorted(days)


def make_calendar(timezone: str, hours: object, closed_days: object) -> Calendar:
    """A calendar from stored or typed values; raises ``CalendarProblem`` when unusable."""
    if not is_zone_name(timezone):
        raise CalendarProblem("timezone", "Choose a time zone from the list.")
    spans = parse_hours(hours)
    return Calendar(
        zone=ZoneInfo(timezone),
        hours=tuple(
            (WEEKDAYS.index(day), opens, closes)
            for day, (opens, closes) in sorted(spans.items(), key=lambda kv: WEEKDAYS.index(kv[0]))
        ),
        closed=frozenset(parse_closed_days(closed_days)),
    )


def calendar_for(tenant: Any) -> Calendar:
    """The calendar of a ``Tenant`` row (or anything with its three fields)."""
    return cached_calendar(
        tenant.timezone or "UTC",
        freeze_hours(tenant.business_hours),
        tuple(str(d) for d in tenant.closed_days or ()),
    )


def freeze_hours(raw: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Stored weekly hours as a hashable key (for ``cached_calendar``)."""
    if not isinstance(raw, Mapping):
        return ()
    return tuple(
        sorted((str(k), tuple(str(x) for x in v)) for k, v in raw.items() if isinstance(v, list))
    )


@functools.lru_cache(maxsize=256)
def cached_calendar(
    timezone: str, hours: tuple[tuple[str, tuple[str, ...]], ...], closed: tuple[str, ...]
) -> Calendar:
    """A stored calendar, parsed once; a part that no longer parses falls back on its own.

    Saved settings are validated; a row edited by hand must still give due times.
    """
    name = timezone if is_zone_name(timezone) else "UTC"
    try:
        spans: object = {k: list(v) for k, v in hours}
        parse_hours(spans)
    except CalendarProblem:
        spans = {}
    try:
        days: list[str] = [d.isoformat() for d in parse_closed_days(list(closed))]
    except CalendarProblem:
        days = []
    return make_calendar(name, spans, days)


def _day_spans(calendar: Calendar, day: date) -> Iterable[tuple[datetime, datetime]]:
    """The day's open span on the counting axis (see ``_axis``)."""
    if day in calendar.closed:
        return ()
    if calendar.always:
        start = datetime.combine(day, time.min, tzinfo=calendar.zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=calendar.zone)
        return ((start, end.astimezone(UTC)),)
    span = calendar._by_weekday.get(day.weekday())
    if span is None:
        return ()
    return ((datetime.combine(day, span[0]), datetime.combine(day, span[1])),)


def _axis(calendar: Calendar, moment: datetime) -> datetime:
    """Where time is counted: elapsed UTC time for ``{}``, else the local wall clock (naive)."""
    moment = moment.astimezone(UTC)
    if calendar.always:
        return moment
    return moment.astimezone(calendar.zone).replace(tzinfo=None)


def _from_axis(calendar: Calendar, point: datetime) -> datetime:
    if calendar.always:
        return point
    return wall_to_utc(point, calendar.zone)


def wall_to_utc(point: datetime, zone: ZoneInfo) -> datetime:
    """A local wall-clock time (naive) as UTC: a repeated time is its first occurrence, and a
    time skipped by a spring-forward change is the moment the clocks changed (so later wall
    times never give earlier instants)."""
    moment = point.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) == point:
        return moment
    # In the gap: fold=1 reads it with the offset after the change (an instant before the
    # change), fold=0 with the offset before (an instant after it); the change lies between.
    low = point.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high, after = moment, moment.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)  # changes happen on whole seconds


def _local_day(calendar: Calendar, moment: datetime) -> date:
    return moment.astimezone(calendar.zone).date()


def add_business_hours(start_utc: datetime, hours: float, calendar: Calendar) -> datetime:
    """The UTC moment when ``hours`` business hours have passed since ``start_utc``.

    A start outside opening hours counts from the next opening; a due time that lands exactly
    on a closing time stays there. Raises ``NoOpenTime`` if nothing is open for ~3 years.
    """
    if start_utc.tzinfo is None:
        raise ValueError("start_utc must be timezone-aware")
    remaining = timedelta(hours=hours)
    if remaining <= timedelta(0):
        return start_utc.astimezone(UTC)
    if calendar.always and not calendar.closed:
        return start_utc.astimezone(UTC) + remaining
    position = _axis(calendar, start_utc)
    first = _local_day(calendar, start_utc)
    for offset in range(SEARCH_DAYS):
        for opens, closes in _day_spans(calendar, first + timedelta(days=offset)):
            begin = max(opens, position)
            if closes <= begin:
                continue
            if closes - begin >= remaining:
                return _from_axis(calendar, begin + remaining)
            remaining -= closes - begin
    raise NoOpenTime("no open time in the clinic's calendar")


def business_hours_between(a: datetime, b: datetime, calendar: Calendar) -> timedelta:
    """Business time from ``a`` to ``b`` (negative when ``b`` is earlier)."""
    if a.tzinfo is None or b.tzinfo is None:
        raise ValueError("moments must be timezone-aware")
    if b < a:
        return -business_hours_between(b, a, calendar)
    if calendar.always and not calendar.closed:
        return b.astimezone(UTC) - a.astimezone(UTC)
    low, high = _axis(calendar, a), _axis(calendar, b)
    total = timedelta(0)
    day, last = _local_day(calendar, a), _local_day(calendar, b)
    while day <= last:
        for opens, closes in _day_spans(calendar, day):
            begin, end = max(opens, low), min(closes, high)
            if end > begin:
                total += end - begin
        day += timedelta(days=1)
    return total


def weekly_hours(calendar: Calendar) -> float:
    """Business hours in an ordinary week (168 when every hour counts)."""
    if calendar.always:
        return 168.0
    return sum(
        (datetime.combine(date.min, c) - datetime.combine(date.min, o)).total_seconds() / 3600
        for _, o, c in calendar.hours
    )


def due_times(
    received: datetime, calendar: Calendar, first_response_hours: float, quote_hours: float
) -> tuple[datetime | None, datetime | None]:
    """A case's (first reply due, quote due) from when it was received; None for no target."""

    def due(hours: float) -> datetime | None:
        if not hours or hours <= 0:
            return None
        try:
            return add_business_hours(received, hours, calendar)
        except NoOpenTime:
            return None

    return due(first_response_hours), due(quote_hours)
