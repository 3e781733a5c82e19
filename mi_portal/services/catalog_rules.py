"""What a catalog field may hold: one checker per kind of value, shared by the forms and the CSV.

Each problem is a ``CatalogProblem`` naming the field and saying, in a sentence, what to type.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from mi_portal.services.quote_math import MAX_QUANTITY, MAX_RATE, MAX_UNIT_PRICE, minor_digits
from mi_portal.services.text import TextTooLong, clean_text

_NUMBER = re.compile(r"^\d{1,12}(\.\d{1,12})?$")
_LABELS = {
    "name": "Name",
    "description": "Description",
    "category": "Category",
    "unit_label": "Unit",
    "unit_price": "Price",
    "price": "Price",
    "rate": "Rate",
    "quantity": "Quantity",
    "quote_terms": "Terms",
}


class CatalogProblem(ValueError):
    """A value the catalog cannot take; ``field`` is where the form shows it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def clean_field(
    value: object, field: str, max_length: int, *, required: bool = False, multiline: bool = False
) -> str:
    """Typed text made safe to store (``text.clean_text``), with the field's own sentence."""
    if value is not None and not isinstance(value, str | int | float | Decimal):
        raise CatalogProblem(field, f"{_LABELS.get(field, field)} must be text.")
    try:
        text = clean_text(value, max_length=max_length, multiline=multiline)
    except TextTooLong:
        raise CatalogProblem(
            field, f"{_LABELS.get(field, field)} can be at most {max_length} characters."
        ) from None
    if required and not text:
        raise CatalogProblem(field, f"{_LABELS.get(field, field)} is required.")
    return text


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "")
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 99


def parse_money(value: object, currency: str, *, field: str = "unit_price") -> Decimal:
    """A price in ``currency``: 0 to 9,999,999.99 with at most the currency's minor digits."""
    label = _LABELS.get(field, "Price")
    amount = _decimal(value)
    if amount is None or amount < 0:
        raise CatalogProblem(field, f"{label} must be a number like 120.00.")
    if amount > MAX_UNIT_PRICE:
        raise CatalogProblem(field, f"{label} can be at most {MAX_UNIT_PRICE:,}.")
    digits = minor_digits(currency)
    if _decimals(amount) > digits:
        if digits == 0:
            raise CatalogProblem(field, f"{label} must be a whole number in {currency}.")
        raise CatalogProblem(
            field, f"{label} can have at most {digits} digits after the point in {currency}."
        )
    return amount.quantize(Decimal("0.01"))


def parse_rate(value: object) -> Decimal:
    """A tax rate in percent: 0 to 100 with at most 4 digits after the point."""
    rate = _decimal(value)
    if rate is None or rate < 0 or rate > MAX_RATE:
        raise CatalogProblem("rate", "Rate must be a percentage from 0 to 100, like 20 or 7.5.")
    if _decimals(rate) > 4:
        raise CatalogProblem("rate", "Rate can have at most 4 digits after the point.")
    return rate.quantize(Decimal("0.0001"))


def parse_quantity(value: object) -> int:
    """How many of an item a package holds: a whole number from 1 to 999."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_QUANTITY:
        raise CatalogProblem(
            "quantity", f"Quantity must be a whole number from 1 to {MAX_QUANTITY}."
        )
    return value


_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def parse_bool(value: object, field: str, *, default: bool) -> bool:
    """yes/no, true/false or 1/0 (any case); empty means ``default``."""
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CatalogProblem(field, f"{field} must be yes or no.")
