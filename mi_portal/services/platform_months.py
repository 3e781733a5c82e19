"""UTC calendar months for the platform dashboard: the URL's range, each month's instants, and
the month of a timestamp in SQL (one CASE over the months' bounds, the same on every database).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

MAX_MONTHS = 24
DEFAULT_MONTHS = 6


@dataclass(frozen=True)
class Month:
    label: str  # YYYY-MM
    start: datetime
    end: datetime


def month_of(column: Any, months: Sequence[Month]) -> Any:
    """The "YYYY-MM" of ``column`` among ``months`` (one CASE, the same on every database)."""
    return sa.case(*[(column < m.end, sa.literal(m.label)) for m in months], else_=sa.null())


def within(column: Any, months: Sequence[Month]) -> Any:
    return sa.and_(column >= months[0].start, column < months[-1].end)


class MonthsInvalid(ValueError):
    """A month range from the URL that cannot be shown; ``message`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def _shift(label: str, months: int) -> str:
    year, month = int(label[:4]), int(label[5:7])
    index = year * 12 + (month - 1) + months
    return _label(index // 12, index % 12 + 1)


def _span(month_from: str, month_to: str) -> int:
    return (
        (int(month_to[:4]) - int(month_from[:4])) * 12
        + int(month_to[5:7])
        - int(month_from[5:7])
        + 1
    )


def default_months(today: date) -> tuple[str, str]:
    """The last six UTC months, the current one included."""
    current = _label(today.year, today.month)
    return _shift(current, -(DEFAULT_MONTHS - 1)), current


def _parse_one(raw: str, name: str, field: str) -> str:
    text = raw.strip()
    try:
        parsed = datetime.strptime(text, "%Y-%m")
    except ValueError:
        raise MonthsInvalid(field, f"Enter the {name} month as YYYY-MM, e.g. 2026-03.") from None
    if len(text) != 7 or parsed.year < 2000:
        raise MonthsInvalid(field, f"Enter the {name} month as YYYY-MM, e.g. 2026-03.")
    return _label(parsed.year, parsed.month)


def parse_months(params: Mapping[str, str], today: date) -> tuple[str, str]:
    """The months of URL params ``from`` and ``to`` (YYYY-MM; defaults for missing ones)."""
    default_from, default_to = default_months(today)
    raw_from, raw_to = (params.get("from") or "").strip(), (params.get("to") or "").strip()
    month_to = _parse_one(raw_to, "last", "to") if raw_to else default_to
    if raw_from:
        month_from = _parse_one(raw_from, "first", "from")
    else:
        month_from = _shift(month_to, -(DEFAULT_MONTHS - 1)) if raw_to else default_from
    if month_to > default_to:
        raise MonthsInvalid("to", "The range cannot end after the current month.")
    if month_from > month_to:
        raise MonthsInvalid("from", "The first month must not be after the last month.")
    if _span(month_from, month_to) > MAX_MONTHS:
        raise MonthsInvalid("from", f"Choose at most {MAX_MONTHS} months.")
    return month_from, month_to


def months_between(month_from: str, month_to: str) -> list[Month]:
    """Each UTC month from ``month_from`` to ``month_to`` inclusive, with its instants."""
    found = []
    for k in range(_span(month_from, month_to)):
        label, following = _shift(month_from, k), _shift(month_from, k + 1)
        found.append(
            Month(
                label,
                datetime(int(label[:4]), int(label[5:7]), 1, tzinfo=UTC),
                datetime(int(following[:4]), int(following[5:7]), 1, tzinfo=UTC),
            )
        )
    return found


def caption(label: str) -> str:
    """ "2026-11" → "Nov 2026"."""
    return datetime.strptime(label + "-01", "%Y-%m-%d").strftime("%b %Y")
