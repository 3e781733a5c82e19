"""Rights-request deadlines: business days with each jurisdiction's holidays, extensions, badges."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mi_portal.services import rights_deadlines as dl


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 15, 30, tzinfo=UTC)


def test_the_list_has_every_us_state_the_gdpr_countries_and_somewhere_else() -> None:
    codes = [code for code, _label in dl.JURISDICTIONS]
    assert len(codes) == len(set(codes))
    assert sum(code.startswith("US-") for code in codes) == 51  # 50 states and DC
    assert {"US-CA", "GB", "DE", "FR", "IE", "CH", "NO", dl.ELSEWHERE} <= set(codes)
    assert dl.label("US-CA") == "California (United States)"
    assert dl.label("DE") == "Germany"
    assert codes[-1] == dl.ELSEWHERE
    assert not dl.is_jurisdiction("XX") and not dl.is_jurisdiction(None)


@pytest.mark.parametrize(
    ("code", "regime"),
    [("US-CA", dl.CCPA), ("US-VA", dl.US_STATE), ("DE", dl.GDPR), ("GB", dl.GDPR),
     ("AU", dl.OTHER), (dl.ELSEWHERE, dl.OTHER)],
)  # fmt: skip
def test_regimes(code: str, regime: str) -> None:
    assert dl.regime_for(code) == regime


def test_ccpa_acknowledge_in_ten_business_days_skipping_weekends_and_californias_holidays() -> None:
    # Received Monday 2026-11-16. Business days: 17 18 19 20 | 23 24 25 (26 Thanksgiving,
    # 27 the day after, both California holidays) | 30, Dec 1, Dec 2 → the 10th is Dec 2.
    got = dl.deadlines(_at(date(2026, 11, 16)), "US-CA")
    assert got.regime == dl.CCPA
    assert got.acknowledge_by == date(2026, 12, 2)
    assert got.due_on == date(2026, 12, 31)  # 45 calendar days
    # Where neither day is a holiday, the tenth business day comes two days earlier.
    assert dl.deadlines(_at(date(2026, 11, 16)), "DE").acknowledge_by == date(2026, 11, 30)


def test_gdpr_thirty_days_and_two_months_more() -> None:
    got = dl.deadlines(_at(date(2026, 1, 31)), "FR")
    assert got.due_on == date(2026, 3, 2)
    assert dl.extended(got.due_on, "FR") == date(2026, 5, 2)
    # Month ends clamp: 31 December + two months is the end of February.
    assert dl.extended(date(2026, 12, 31), "IE") == date(2027, 2, 28)


def test_ccpa_extension_is_45_days_more() -> None:
    assert dl.extended(date(2026, 12, 31), "US-CA") == date(2027, 2, 14)
    assert dl.extended(date(2026, 12, 31), dl.ELSEWHERE) == date(2027, 1, 30)


def test_a_holiday_of_one_jurisdiction_is_a_business_day_in_another() -> None:
    # 2026-12-26 is a Saturday; 2026-12-28 (Monday) is the UK's Boxing Day substitute.
    assert not dl.is_business_day(date(2026, 12, 28), "GB")
    assert dl.is_business_day(date(2026, 12, 28), "US-CA")
    assert not dl.is_business_day(date(2026, 12, 26), "US-CA")  # a weekend everywhere
    # Easter Monday: a holiday in Germany, not in California.
    assert not dl.is_business_day(date(2026, 4, 6), "DE")
    assert dl.is_business_day(date(2026, 4, 6), "US-CA")


def test_business_days_cross_the_year_end() -> None:
    # From Wed 2026-12-23 in the UK: 24 (1), 25-28 off (Christmas, weekend, Boxing Day
    # observed), 29 (2), 30 (3), 31 (4), 1-3 January off (New Year, weekend), 4 January (5).
    assert dl.add_business_days(date(2026, 12, 23), 5, "GB") == date(2027, 1, 4)


@pytest.mark.parametrize(
    ("due", "tone", "text"),
    [
        (date(2026, 12, 20), "ok", "19 days left"),
        (date(2026, 12, 8), "soon", "7 days left"),
        (date(2026, 12, 2), "soon", "1 day left"),
        (date(2026, 12, 1), "soon", "Due today"),
        (date(2026, 11, 30), "overdue", "Overdue by 1 day"),
        (date(2026, 11, 20), "overdue", "Overdue by 11 days"),
        (None, "ok", "No deadline yet"),
    ],
)
def test_badges(due: date | None, tone: str, text: str) -> None:
    assert dl.badge(due, date(2026, 12, 1)) == (tone, text)
