"""Rights-request deadlines, computed in this one place.

* California (CCPA) and the other US states, whose privacy laws follow the same clock:
  acknowledge within 10 business days, answer within 45 days of receipt, extendable once by
  45 days with notice to the requester.
* The EU, the EEA, the UK and Switzerland (GDPR and its copies): answer within 30 days,
  extendable once by two months with notice.
* Elsewhere: the platform holds itself to 30 days, extendable once by 30.

Business days skip weekends and the public holidays of the jurisdiction (``holidays``). Days are
counted in UTC from the day the request was received.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import holidays
from babel import Locale

CCPA = "ccpa"
US_STATE = "us"
GDPR = "gdpr"
OTHER = "other"
ELSEWHERE = "OTHER"

ACKNOWLEDGE_BUSINESS_DAYS = 10
SOON_DAYS = 7  # a deadline this close is shown as due soon

_US_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota",
    "MS": "Mississippi", "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon",
    "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota",
    "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia",
    "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
}  # fmt: skip
# The EU and EEA member states, the UK and Switzerland.
_GDPR_COUNTRIES = (
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE "
    "IS LI NO GB CH"
).split()
_OTHER_COUNTRIES = ("AU", "BR", "CA", "MX", "NZ")


@dataclass(frozen=True)
class Rule:
    regime: str
    answer_days: int
    extension_days: int  # 0: the extension is in months (GDPR)
    extension_months: int = 0


RULES = {
    CCPA: Rule(CCPA, 45, 45),
    US_STATE: Rule(US_STATE, 45, 45),
    GDPR: Rule(GDPR, 30, 0, extension_months=2),
    OTHER: Rule(OTHER, 30, 30),
}


def _country_names() -> dict[str, str]:
    territories = Locale("en").territories
    return {
        code: str(territories.get(code, code)) for code in (*_GDPR_COUNTRIES, *_OTHER_COUNTRIES)
    }


def _jurisdictions() -> list[tuple[str, str]]:
    states = [(f"US-{code}", f"{name} (United States)") for code, name in _US_STATES.items()]
    countries = sorted(_country_names().items(), key=lambda item: item[1])
    return [
        *sorted(states, key=lambda item: item[1]),
        *countries,
        (ELSEWHERE, "Somewhere else"),
    ]


# (code, label) for the public form's list: US states, then countries, then "somewhere else".
JURISDICTIONS: list[tuple[str, str]] = _jurisdictions()
_CODES = frozenset(code for code, _label in JURISDICTIONS)


def is_jurisdiction(code: object) -> bool:
    return isinstance(code, str) and code in _CODES


def label(code: str) -> str:
    return dict(JURISDICTIONS).get(code, code)


def regime_for(code: str) -> str:
    if code == "US-CA":
        return CCPA
    if code.startswith("US-"):
        return US_STATE
    if code in _GDPR_COUNTRIES:
        return GDPR
    return OTHER


@functools.lru_cache(maxsize=256)
def _holidays(code: str, year: int) -> frozenset[date]:
    if code == ELSEWHERE or not is_jurisdiction(code):
        return frozenset()
    country, _, subdivision = code.partition("-")
    try:
        found = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    except NotImplementedError:
        return frozenset()
    return frozenset(found.keys())


def is_business_day(day: date, jurisdiction: str) -> bool:
    return day.weekday() < 5 and day not in _holidays(jurisdiction, day.year)


def add_business_days(start: date, days: int, jurisdiction: str) -> date:
    """The business day ``days`` business days after ``start`` (``start`` itself not counted)."""
    day = start
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_business_day(day, jurisdiction):
            left -= 1
    return day


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Deadlines:
    regime: str
    acknowledge_by: date
    due_on: date


def deadlines(received: datetime, jurisdiction: str) -> Deadlines:
    """When a request received at ``received`` must be acknowledged and answered."""
    rule = RULES[regime_for(jurisdiction)]
    day = received.date()
    return Deadlines(
        regime=rule.regime,
        acknowledge_by=add_business_days(day, ACKNOWLEDGE_BUSINESS_DAYS, jurisdiction),
        due_on=day + timedelta(days=rule.answer_days),
    )


def extended(due_on: date, jurisdiction: str) -> date:
    """The answer's deadline after the one extension the law allows (notice given)."""
    rule = RULES[regime_for(jurisdiction)]
    if rule.extension_months:
        return _add_months(due_on, rule.extension_months)
    return due_on + timedelta(days=rule.extension_days)


def days_left(due_on: date, today: date) -> int:
    return (due_on - today).days


def badge(due_on: date | None, today: date) -> tuple[str, str]:
    """(tone, text) for a deadline: "overdue", "soon" (a week or less) or "ok"."""
    if due_on is None:
        return "ok", "No deadline yet"
    left = days_left(due_on, today)
    if left < 0:
        return "overdue", f"Overdue by {-left} day{'s' if left != -1 else ''}"
    if left == 0:
        return "soon", "Due today"
    text = f"{left} day{'s' if left != 1 else ''} left"
    return ("soon" if left <= SOON_DAYS else "ok"), text
