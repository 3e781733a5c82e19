"""The fields of a new clinic, all checked at once, and the rules for its address (slug)."""

from __future__ import annotations

import re

from mi_portal.services import business_time, rights_deadlines
from mi_portal.services.catalog_defaults import parse_currency, parse_locale
from mi_portal.services.catalog_rules import CatalogProblem
from mi_portal.services.text import TextTooLong, clean_email, clean_text

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$")
# Addresses the app (or a likely future part of it) uses for itself.
RESERVED_SLUGS = frozenset(
    {"admin", "api", "app", "assets", "auth", "consult", "mi-portal", "platform", "static", "www"}
)


class ClinicProblem(ValueError):
    """A value a clinic cannot take; ``field`` is where the form shows the message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_slug(value: object) -> str:
    slug = clean_text(value, max_length=100, trim=True).lower()
    if not SLUG.match(slug) or "--" in slug:
        raise ClinicProblem(
            "slug",
            "Use 3 to 63 lowercase letters, digits and single hyphens, starting and ending "
            "with a letter or digit (like lakeside-derm).",
        )
    if slug in RESERVED_SLUGS:
        raise ClinicProblem("slug", f"“{slug}” is reserved for the app itself; choose another.")
    return slug


def check_fields(
    name: object, slug: object, timezone: object, locale: object, currency: object,
    jurisdiction: object, owner_email: object, owner_name: object,
) -> tuple[dict[str, str], dict[str, str]]:  # fmt: skip
    """Every field checked at once: (clean values, field → message)."""
    clean: dict[str, str] = {}
    problems: dict[str, str] = {}
    try:
        clean["name"] = clean_text(name, max_length=200)
        if len(clean["name"]) < 2:
            problems["name"] = "Enter the clinic's name."
    except TextTooLong:
        problems["name"] = "Keep the name under 200 characters."
    try:
        clean["slug"] = parse_slug(slug)
    except ClinicProblem as exc:
        problems["slug"] = str(exc)
    zone = clean_text(timezone, max_length=64, trim=True)
    if not business_time.is_zone_name(zone):
        problems["timezone"] = "Choose a time zone by its name, like Europe/Berlin."
    clean["timezone"] = zone
    for key, parse, value in (("locale", parse_locale, locale), ("currency", parse_currency, currency)):  # fmt: skip
        try:
            clean[key] = parse(value)
        except CatalogProblem as exc:
            problems[key] = str(exc)
    code = clean_text(jurisdiction, max_length=8, trim=True)
    if not rights_deadlines.is_jurisdiction(code):
        problems["jurisdiction"] = "Choose where the clinic is."
    clean["jurisdiction"] = code
    try:
        clean["owner_email"] = clean_email(owner_email)
    except ValueError as exc:
        problems["owner_email"] = str(exc)
    try:
        clean["owner_name"] = clean_text(owner_name, max_length=200)
    except TextTooLong:
        clean["owner_name"] = ""
        problems["owner_name"] = "Use at most 200 characters."
    else:
        if not clean["owner_name"]:
            problems["owner_name"] = "Enter the owner's name."
    return clean, problems


class ClinicInvalid(ValueError):
    """The new clinic's form has problems: ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors
