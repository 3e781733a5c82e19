"""Phone numbers: one normal form (E.164) for storing, comparing and sending."""

from __future__ import annotations

import phonenumbers

from mi_portal.config import get_settings


class InvalidPhone(ValueError):
    """Not a phone number that can receive a text message."""


def to_e164(value: object, *, region: str | None = None) -> str:
    """``+15550100200`` from anything a person types; ``InvalidPhone`` when it is not one."""
    text = str(value or "").strip()
    if not text:
        raise InvalidPhone("Enter a phone number.")
    try:
        parsed = phonenumbers.parse(text, region or get_settings().phone_region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(
            "Enter a phone number with its country code, e.g. +1 202 555 0143."
        ) from None
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone("This is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def same_phone(a: object, b: object) -> bool:
    """Whether two typed numbers are the same line."""
    try:
        return to_e164(a) == to_e164(b)
    except InvalidPhone:
        return False
