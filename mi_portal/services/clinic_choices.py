"""The regional choices a clinic picks from: time zones, locales, currencies, jurisdictions."""

from __future__ import annotations

import functools
from datetime import date

from babel import Locale, UnknownLocaleError, localedata
from babel.numbers import get_currency_name, get_currency_precision, get_territory_currencies

from mi_portal.services import business_time, rights_deadlines

# Offered first in the time-zone list: where most clinics are.
COMMON_ZONES = (
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Toronto",
    "America/Vancouver",
    "America/Mexico_City",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Australia/Perth",
    "Pacific/Auckland",
)
MAX_MINOR_DIGITS = 2


@functools.cache
def timezones() -> frozenset[str]:
    """The zones a clinic can have: ``business_time.zone_names`` (the one list)."""
    return frozenset(business_time.zone_names())


@functools.cache
def timezone_groups() -> list[tuple[str, list[str]]]:
    """(group label, zones): the common zones first, then every zone by its region."""
    groups: dict[str, list[str]] = {}
    for zone in business_time.zone_names():
        if "/" in zone:  # "UTC" is offered among the common zones
            groups.setdefault(zone.split("/", 1)[0], []).append(zone)
    common = [z for z in COMMON_ZONES if z in timezones()]
    return [("Common", common), *sorted(groups.items())]


@functools.cache
def locales() -> dict[str, str]:
    """Locale code (``en_US``) → its name in English, for every language-and-country locale."""
    found: dict[str, str] = {}
    for code in localedata.locale_identifiers():
        parts = code.split("_")
        # Language and country only: scripts and variants make the list long and add nothing here.
        if len(parts) != 2 or len(parts[1]) != 2:
            continue
        try:
            found[code] = str(Locale.parse(code).get_display_name("en"))
        except (UnknownLocaleError, ValueError):
            continue
    return dict(sorted(found.items(), key=lambda item: item[1]))


@functools.cache
def currencies() -> dict[str, str]:
    """ISO 4217 code → English name, for the legal tender of some country today, with at most
    two minor digits (quotes round to cents)."""
    today = date.today()
    codes: set[str] = set()
    for key in Locale("en").territories:
        territory = str(key)
        if len(territory) != 2 or not territory.isalpha():
            continue
        try:
            codes.update(get_territory_currencies(territory, today, tender=True))
        except (KeyError, ValueError):
            continue
    kept = {c: str(get_currency_name(c, locale="en")) for c in codes if len(c) == 3}
    kept = {c: n for c, n in kept.items() if int(get_currency_precision(c)) <= MAX_MINOR_DIGITS}
    return dict(sorted(kept.items()))


def jurisdictions() -> list[tuple[str, str]]:
    """(code, label) as the privacy-request rules know them."""
    return list(rights_deadlines.JURISDICTIONS)


def phone_region(jurisdiction: str) -> str | None:
    """The country a typed local phone number is read in: the clinic's own, when known."""
    country = jurisdiction.split("-", 1)[0]
    return country if len(country) == 2 and country.isalpha() else None
