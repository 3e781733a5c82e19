"""Business time over a clinic's calendar. Every expectation below was worked out by hand.

Clock changes used (2026): New York springs forward Sun 8 March (02:00 EST → 03:00 EDT) and
falls back Sun 1 November (02:00 EDT → 01:00 EST); London springs forward Sun 29 March
(01:00 GMT → 02:00 BST) and falls back Sun 25 October (02:00 BST → 01:00 GMT).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from mi_portal.services import business_time as bt

WEEKDAYS_9_5 = {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
EVERY_DAY_9_5 = {d: ["09:00", "17:00"] for d in bt.WEEKDAYS}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def cal(zone: str = "America/New_York", hours: object = None, closed: object = ()) -> bt.Calendar:
    return bt.make_calendar(zone, WEEKDAYS_9_5 if hours is None else hours, list(closed))  # type: ignore[arg-type]


def H(n: float) -> timedelta:
    return timedelta(hours=n)


# --- ordinary days, weekends, closed days --------------------------------------------------


def test_within_one_day_and_into_the_next() -> None:
    ny = cal()
    # Mon 2 March 10:00 EST (15:00 UTC) + 3 h = 13:00 EST.
    assert bt.add_business_hours(utc(2026, 3, 2, 15), 3, ny) == utc(2026, 3, 2, 18)
    # + 8 h: 7 h on Monday (to 17:00), 1 h on Tuesday from 09:00 → Tue 10:00 EST = 15:00 UTC.
    assert bt.add_business_hours(utc(2026, 3, 2, 15), 8, ny) == utc(2026, 3, 3, 15)
    assert bt.business_hours_between(utc(2026, 3, 2, 15), utc(2026, 3, 3, 15), ny) == H(8)


def test_a_weekend_is_skipped() -> None:
    ny = cal()
    # Fri 27 Feb 15:00 EST (20:00 UTC) + 4 h: 2 h Friday, 2 h Monday 2 March → 11:00 EST.
    assert bt.add_business_hours(utc(2026, 2, 27, 20), 4, ny) == utc(2026, 3, 2, 16)
    assert bt.business_hours_between(utc(2026, 2, 27, 20), utc(2026, 3, 2, 16), ny) == H(4)
    # Saturday to Sunday: nothing counts.
    assert bt.business_hours_between(utc(2026, 2, 28, 12), utc(2026, 3, 1, 23), ny) == H(0)


def test_a_closed_day_is_skipped() -> None:
    ny = cal(closed=["2026-12-25"])
    # Thu 24 Dec 16:00 EST (21:00 UTC) + 2 h: 1 h Thursday; Fri 25 closed; weekend;
    # 1 h Monday 28 → 10:00 EST = 15:00 UTC.
    assert bt.add_business_hours(utc(2026, 12, 24, 21), 2, ny) == utc(2026, 12, 28, 15)
    assert bt.business_hours_between(utc(2026, 12, 24, 21), utc(2026, 12, 28, 15), ny) == H(2)
    # Without the closed day, Friday 25 counts: 1 h Thursday + 1 h Friday → Fri 10:00 EST.
    assert bt.add_business_hours(utc(2026, 12, 24, 21), 2, cal()) == utc(2026, 12, 25, 15)


def test_start_on_a_closed_day_or_outside_hours() -> None:
    ny = cal(closed=["2026-12-25"])
    # Fri 25 Dec 12:00 EST (closed) + 1 h → Mon 28 10:00 EST = 15:00 UTC.
    assert bt.add_business_hours(utc(2026, 12, 25, 17), 1, ny) == utc(2026, 12, 28, 15)
    # Mon 7 Dec 07:00 EST (before opening) + 1 h → 10:00 EST.
    assert bt.add_business_hours(utc(2026, 12, 7, 12), 1, ny) == utc(2026, 12, 7, 15)
    # Mon 7 Dec 20:00 EST (Tue 01:00 UTC, after closing) + 1 h → Tue 10:00 EST.
    assert bt.add_business_hours(utc(2026, 12, 8, 1), 1, ny) == utc(2026, 12, 8, 15)
    # Saturday 10:00 EST + 1.5 h → Monday 10:30 EST.
    assert bt.add_business_hours(utc(2026, 12, 5, 15), 1.5, ny) == utc(2026, 12, 7, 15, 30)


def test_exact_boundaries() -> None:
    ny = cal()
    # Mon 7 Dec 09:00 EST + 8 h ends exactly at closing: 17:00 EST, not Tuesday 09:00.
    assert bt.add_business_hours(utc(2026, 12, 7, 14), 8, ny) == utc(2026, 12, 7, 22)
    # From closing time itself + 1 h → Tue 10:00 EST.
    assert bt.add_business_hours(utc(2026, 12, 7, 22), 1, ny) == utc(2026, 12, 8, 15)
    # Closing to the next opening is no business time; opening to closing is the whole day.
    assert bt.business_hours_between(utc(2026, 12, 7, 22), utc(2026, 12, 8, 14), ny) == H(0)
    assert bt.business_hours_between(utc(2026, 12, 7, 14), utc(2026, 12, 7, 22), ny) == H(8)
    # Zero hours: the start itself.
    assert bt.add_business_hours(utc(2026, 12, 5, 15), 0, ny) == utc(2026, 12, 5, 15)
    # Earlier end: negative.
    assert bt.business_hours_between(utc(2026, 12, 7, 22), utc(2026, 12, 7, 14), ny) == -H(8)


# --- time zones far from UTC ----------------------------------------------------------------


def test_a_zone_ahead_of_utc_puts_the_due_time_on_the_previous_utc_day() -> None:
    auckland = cal("Pacific/Auckland")
    # Fri 4 Dec 16:00 NZDT (+13) = 03:00 UTC. + 3 h: 1 h Friday, 2 h Mon 7 Dec → 11:00 NZDT,
    # which is Sunday 6 Dec 22:00 UTC.
    assert bt.add_business_hours(utc(2026, 12, 4, 3), 3, auckland) == utc(2026, 12, 6, 22)
    assert bt.business_hours_between(utc(2026, 12, 4, 3), utc(2026, 12, 6, 22), auckland) == H(3)


def test_a_half_hour_zone() -> None:
    kolkata = cal("Asia/Kolkata", {d: ["09:00", "18:00"] for d in ("mon", "tue")})
    # Mon 7 Dec 02:00 UTC = 07:30 IST, before opening. + 2 h → 11:00 IST = 05:30 UTC.
    assert bt.add_business_hours(utc(2026, 12, 7, 2), 2, kolkata) == utc(2026, 12, 7, 5, 30)
    # Tue 16:00 IST (10:30 UTC) + 4 h: 2 h Tuesday, closed Wed–Sun, 2 h Mon 14 → 11:00 IST.
    assert bt.add_business_hours(utc(2026, 12, 8, 10, 30), 4, kolkata) == utc(2026, 12, 14, 5, 30)


# --- daylight-saving changes ----------------------------------------------------------------


def test_new_york_spring_forward_day_still_has_eight_hours() -> None:
    ny = cal(hours=EVERY_DAY_9_5)
    # Sun 8 March: 09:00 EDT = 13:00 UTC, 17:00 EDT = 21:00 UTC.
    assert bt.add_business_hours(utc(2026, 3, 8, 13), 8, ny) == utc(2026, 3, 8, 21)
    assert bt.business_hours_between(utc(2026, 3, 8, 0), utc(2026, 3, 9, 0), ny) == H(8)
    # Sat 7 March 13:00 EST (18:00 UTC) + 8 h: 4 h Saturday, 4 h Sunday → 13:00 EDT = 17:00 UTC.
    assert bt.add_business_hours(utc(2026, 3, 7, 18), 8, ny) == utc(2026, 3, 8, 17)


def test_new_york_weekend_across_spring_forward() -> None:
    ny = cal()
    # Fri 6 March 15:00 EST (20:00 UTC) + 4 h: 2 h Friday, 2 h Mon 9 → 11:00 EDT = 15:00 UTC.
    assert bt.add_business_hours(utc(2026, 3, 6, 20), 4, ny) == utc(2026, 3, 9, 15)


def test_new_york_hours_across_the_skipped_hour_count_on_the_wall_clock() -> None:
    night = cal(hours={"sun": ["00:00", "06:00"]})
    # Sun 8 March 00:00 EST = 05:00 UTC. + 3 h → 03:00 on the wall = 03:00 EDT = 07:00 UTC.
    assert bt.add_business_hours(utc(2026, 3, 8, 5), 3, night) == utc(2026, 3, 8, 7)
    # 02:30 does not exist that day: it becomes the moment the clocks changed (07:00 UTC),
    # so a shorter target never gives a later due time.
    assert bt.add_business_hours(utc(2026, 3, 8, 5), 2.5, night) == utc(2026, 3, 8, 7)
    # + 1.5 h → 01:30 EST = 06:30 UTC.
    assert bt.add_business_hours(utc(2026, 3, 8, 5), 1.5, night) == utc(2026, 3, 8, 6, 30)
    # The whole night counts 6 wall-clock hours (5 real ones).
    assert bt.business_hours_between(utc(2026, 3, 8, 5), utc(2026, 3, 8, 10), night) == H(6)


def test_new_york_fall_back() -> None:
    ny = cal(hours=EVERY_DAY_9_5)
    # Sun 1 Nov: 09:00 EST = 14:00 UTC; + 8 h → 17:00 EST = 22:00 UTC.
    assert bt.add_business_hours(utc(2026, 11, 1, 14), 8, ny) == utc(2026, 11, 1, 22)
    # Sat 31 Oct 13:00 EDT (17:00 UTC) + 8 h: 4 h Saturday, 4 h Sunday → 13:00 EST = 18:00 UTC.
    assert bt.add_business_hours(utc(2026, 10, 31, 17), 8, ny) == utc(2026, 11, 1, 18)
    night = cal(hours={"sun": ["00:00", "06:00"]})
    # Sun 1 Nov 00:00 EDT = 04:00 UTC. 01:30 happens twice: the first one counts (EDT).
    assert bt.add_business_hours(utc(2026, 11, 1, 4), 1.5, night) == utc(2026, 11, 1, 5, 30)
    # + 2 h → 02:00 EST = 07:00 UTC (three real hours later).
    assert bt.add_business_hours(utc(2026, 11, 1, 4), 2, night) == utc(2026, 11, 1, 7)


def test_london_spring_forward_and_fall_back() -> None:
    london = cal("Europe/London")
    # Fri 27 March 16:00 GMT (= UTC) + 3 h: 1 h Friday, 2 h Mon 30 → 11:00 BST = 10:00 UTC.
    assert bt.add_business_hours(utc(2026, 3, 27, 16), 3, london) == utc(2026, 3, 30, 10)
    # Fri 23 Oct 16:00 BST (15:00 UTC) + 3 h: 1 h Friday, 2 h Mon 26 → 11:00 GMT = 11:00 UTC.
    assert bt.add_business_hours(utc(2026, 10, 23, 15), 3, london) == utc(2026, 10, 26, 11)
    assert bt.business_hours_between(utc(2026, 10, 23, 15), utc(2026, 10, 26, 11), london) == H(3)
    sundays = cal("Europe/London", EVERY_DAY_9_5)
    # Sun 29 March: 09:00 BST = 08:00 UTC to 17:00 BST = 16:00 UTC, 8 hours.
    assert bt.add_business_hours(utc(2026, 3, 29, 8), 8, sundays) == utc(2026, 3, 29, 16)
    # Sun 25 Oct: 09:00 GMT = 09:00 UTC to 17:00 GMT = 17:00 UTC, 8 hours.
    assert bt.business_hours_between(utc(2026, 10, 25, 0), utc(2026, 10, 26, 0), sundays) == H(8)
    night = cal("Europe/London", {"sun": ["00:00", "04:00"]})
    # Sun 25 Oct 00:00 BST = Sat 23:00 UTC. + 2 h → 02:00 GMT = 02:00 UTC (3 real hours).
    assert bt.add_business_hours(utc(2026, 10, 24, 23), 2, night) == utc(2026, 10, 25, 2)
    # + 1.5 h → 01:30, first occurrence (BST) = 00:30 UTC.
    assert bt.add_business_hours(utc(2026, 10, 24, 23), 1.5, night) == utc(2026, 10, 25, 0, 30)


# --- {} counts every hour -------------------------------------------------------------------


def test_no_opening_hours_counts_the_wall_clock() -> None:
    always = cal(hours={})
    assert always.always
    # Across New York's spring-forward: 48 real hours.
    assert bt.add_business_hours(utc(2026, 3, 7, 12), 48, always) == utc(2026, 3, 9, 12)
    assert bt.business_hours_between(utc(2026, 3, 7, 12), utc(2026, 3, 9, 12), always) == H(48)


def test_no_opening_hours_still_skips_closed_days() -> None:
    utc_cal = cal("UTC", {}, ["2026-12-25"])
    # 24 Dec 12:00 + 24 h: 12 h on the 24th, the 25th closed, 12 h on the 26th.
    assert bt.add_business_hours(utc(2026, 12, 24, 12), 24, utc_cal) == utc(2026, 12, 26, 12)
    ny = cal(hours={}, closed=["2026-03-08"])
    # Sat 7 March 12:00 EST (17:00 UTC) + 24 h: 12 h to midnight EST (05:00 UTC on the 8th);
    # the 8th is closed (23 real hours, to 04:00 UTC on the 9th); 12 h more → 16:00 UTC.
    assert bt.add_business_hours(utc(2026, 3, 7, 17), 24, ny) == utc(2026, 3, 9, 16)
    assert bt.business_hours_between(utc(2026, 3, 7, 17), utc(2026, 3, 9, 16), ny) == H(24)


# --- consistency, guard, validation ---------------------------------------------------------


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/London", "Pacific/Auckland"])
def test_adding_then_measuring_gives_the_target_back(zone: str) -> None:
    calendar = cal(zone, {**WEEKDAYS_9_5, "sat": ["09:30", "12:15"]}, ["2026-03-10"])
    start = utc(2026, 3, 1, 0)
    for step in range(0, 24 * 70, 7):  # every 7 hours through March, April and May
        moment = start + H(step)
        for hours in (1, 8, 24, 48, 100):
            due = bt.add_business_hours(moment, hours, calendar)
            assert bt.business_hours_between(moment, due, calendar) == H(hours)
            assert bt.add_business_hours(moment, hours + 1, calendar) > due


def test_a_calendar_with_no_open_time_does_not_loop_forever() -> None:
    mondays = [date(2026, 1, 5) + timedelta(weeks=w) for w in range(52 * 4)]
    calendar = cal("UTC", {"mon": ["09:00", "10:00"]}, mondays)
    with pytest.raises(bt.NoOpenTime):
        bt.add_business_hours(utc(2026, 1, 1), 1, calendar)


@pytest.mark.parametrize(
    ("hours", "field", "words"),
    [
        ({"mon": ["25:00", "26:00"]}, "mon", "24-hour"),
        ({"tue": ["9am", "5pm"]}, "tue", "24-hour"),
        ({"wed": ["17:00", "09:00"]}, "wed", "past midnight"),
        ({"thu": ["09:00", "09:00"]}, "thu", "after opening"),
        ({"fri": ["09:00"]}, "fri", "opening and a closing"),
        ({"someday": ["09:00", "17:00"]}, "hours", "Unknown weekday"),
        (["mon"], "hours", "list of days"),
    ],
)
def test_bad_hours_are_refused_with_the_field(hours: object, field: str, words: str) -> None:
    with pytest.raises(bt.CalendarProblem) as caught:
        bt.parse_hours(hours)
    assert caught.value.field == field and words in caught.value.message


def test_good_hours_closed_days_and_zones_parse() -> None:
    assert bt.parse_hours({"mon": ["9:00", "17:30"]})["mon"][1].minute == 30
    assert bt.parse_closed_days(["2026-12-25", "2026-01-01", "2026-12-25"]) == [
        date(2026, 1, 1),
        date(2026, 12, 25),
    ]
    with pytest.raises(bt.CalendarProblem):
        bt.parse_closed_days(["25/12/2026"])
    with pytest.raises(bt.CalendarProblem) as caught:
        bt.make_calendar("Mars/Olympus", {}, [])
    assert caught.value.field == "timezone"
    assert bt.weekly_hours(cal()) == 40.0 and bt.weekly_hours(cal(hours={})) == 168.0


def test_a_stored_calendar_that_no_longer_parses_still_gives_due_times() -> None:
    class Row:
        timezone = "Not/AZone"
        business_hours = {"mon": ["09:00", "17:00"]}
        closed_days = ["2026-12-25"]

    calendar = bt.calendar_for(Row())
    assert calendar.zone.key == "UTC" and calendar.closed == {date(2026, 12, 25)}
    Row.business_hours = {"mon": ["17:00", "09:00"]}
    assert bt.calendar_for(Row()).always
    with pytest.raises(ValueError, match="aware"):
        bt.add_business_hours(datetime(2026, 1, 1), 1, calendar)


# --- one list of time zones ---------------------------------------------------------------


def test_every_zone_offered_or_accepted_gives_a_calendar_in_that_zone() -> None:
    from types import SimpleNamespace

    from mi_portal.services import clinic_choices, clinic_fields, clinic_time

    offered = {z for _, zones in clinic_choices.timezone_groups() for z in zones}
    assert offered == clinic_choices.timezones() == set(bt.zone_names())
    for name in offered:
        row = SimpleNamespace(timezone=name, business_hours=WEEKDAYS_9_5, closed_days=[])
        assert bt.calendar_for(row).zone.key == name
        assert clinic_time.zone(name).key == name  # shown on the same clock as counted
        _, problems = clinic_fields.check_fields(
            "Clinic", "clinic-x", name, "en_US", "USD", "US", "o@x.test", "Owner"
        )
        assert "timezone" not in problems, name


@pytest.mark.parametrize("alias", ["GB", "EST5EDT", "Egypt", "US/Eastern", "Etc/GMT+5", "Zulu"])
def test_a_legacy_alias_is_neither_offered_nor_accepted(alias: str) -> None:
    from mi_portal.services import clinic_choices, clinic_fields

    assert alias not in clinic_choices.timezones()
    assert all(alias not in zones for _, zones in clinic_choices.timezone_groups())
    _, problems = clinic_fields.check_fields(
        "Clinic", "clinic-x", alias, "en_US", "USD", "US", "o@x.test", "Owner"
    )
    assert "timezone" in problems
    with pytest.raises(bt.CalendarProblem):
        bt.make_calendar(alias, WEEKDAYS_9_5, [])
    # A row that still holds one is counted and shown on one clock: UTC.
    assert bt.zone(alias).key == "UTC"
