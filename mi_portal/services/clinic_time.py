"""Dates and times as a clinic's staff read them: in the clinic's own time zone.

Everything is stored in UTC; only what is shown is converted, here, in one place.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mi_portal.services.business_time import wall_to_utc, zone

UTC_ZONE = zone("UTC")  # the cached instance, so ``is`` finds it


def minutes(moment: datetime | None, where: ZoneInfo = UTC_ZONE) -> str:
    """'YYYY-MM-DD HH:MM' on the clinic's clock ("" for no moment); cheap enough for every row."""
    if moment is None:
        return ""
    if where is UTC_ZONE:  # stored values are UTC already: no zone arithmetic
        return moment.isoformat(" ", "minutes")[:16]
    return moment.astimezone(where).isoformat(" ", "minutes")[:16]


def minutes_with_zone(moment: datetime | None, where: ZoneInfo = UTC_ZONE) -> str:
    """'YYYY-MM-DD HH:MM EST': for a time read on its own (a due time, a deadline)."""
    if moment is None:
        return ""
    local = moment.astimezone(where)
    return f"{local.isoformat(' ', 'minutes')[:16]} {local.tzname() or where.key}"


def clock_time(moment: datetime, where: ZoneInfo = UTC_ZONE) -> str:
    """'HH:MM' on the clinic's clock."""
    return moment.astimezone(where).strftime("%H:%M")


def caption(where: ZoneInfo) -> str:
    """The line under a list of times, e.g. 'Times in Europe/London (GMT)'."""
    from mi_portal.services import clock

    short = clock.now().astimezone(where).tzname() or ""
    return f"Times in {where.key}" + (f" ({short})" if short and short != where.key else "")


def day_bound(value: str, where: ZoneInfo, *, end: bool = False) -> datetime | None:
    """The UTC moment a 'YYYY-MM-DD' day starts (or, with ``end``, ends) on the clinic's clock."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None
    if end:
        if day == date.max:
            return None
        day += timedelta(days=1)
    return wall_to_utc(datetime.combine(day, time.min), where)


__all__ = ["caption", "clock_time", "day_bound", "minutes", "minutes_with_zone", "zone"]
