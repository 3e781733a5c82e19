"""The quote builder's form: what staff typed (strings) checked into lines and amounts.

A draft keeps its form exactly as typed, valid or not; ``parse`` turns it into the inputs of
``quote_math.compute`` or into one error per field (keys like ``lines.2.unit_price``), and never
raises for bad input. Catalog references are resolved against the clinic's own rows only (the
caller passes them in, read in the clinic's session).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from mi_portal.services import quote_math
from mi_portal.services.text import TextTooLong, clean_text

MAX_LINES = 50
MAX_DESCRIPTION = 500
MAX_TEXT = 4_000
MAX_VALID_DAYS = 365
KINDS = ("", "amount", "percent")
LINE_FIELDS = (
    "item",
    "package",
    "description",
    "unit_label",
    "quantity",
    "unit_price",
    "discount_kind",
    "discount_value",
    "tax_class",
)
QUOTE_FIELDS = (
    "discount_kind",
    "discount_value",
    "deposit_kind",
    "deposit_value",
    "valid_until",
    "message",
    "terms",
)


@dataclass(frozen=True)
class TaxChoice:
    id: str
    name: str
    rate: Decimal


@dataclass(frozen=True)
class CatalogChoice:
    """A catalog item or package a line may come from (the clinic's, active)."""

    id: str
    name: str
    unit_label: str
    price: Decimal
    tax_class: str  # tax class id or ""


@dataclass(frozen=True)
class Lookups:
    taxes: Mapping[str, TaxChoice]
    items: Mapping[str, CatalogChoice]
    packages: Mapping[str, CatalogChoice]


@dataclass(frozen=True)
class ParsedLine:
    item_id: uuid.UUID | None
    package_id: uuid.UUID | None
    description: str
    unit_label: str
    tax_name: str
    math: quote_math.LineInput


@dataclass
class Parsed:
    lines: list[ParsedLine] = field(default_factory=list)
    discount_kind: str = ""
    discount_value: Decimal = quote_math.ZERO
    deposit_kind: str = ""
    deposit_value: Decimal = quote_math.ZERO
    valid_until: date | None = None
    message: str = ""
    terms: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def empty_line() -> dict[str, str]:
    return {name: "" for name in LINE_FIELDS} | {"quantity": "1"}


def blank_form(*, valid_until: date, terms: str) -> dict[str, Any]:
    form: dict[str, Any] = {name: "" for name in QUOTE_FIELDS}
    form.update(lines=[], valid_until=valid_until.isoformat(), terms=terms)
    return form


def normal_form(raw: object) -> dict[str, Any]:
    """Any JSON from the browser reduced to the form's shape: known keys, strings, bounded."""
    source = raw if isinstance(raw, dict) else {}
    form: dict[str, Any] = {
        name: _string(source.get(name), MAX_TEXT + 100) for name in QUOTE_FIELDS
    }
    lines = source.get("lines")
    form["lines"] = [
        {name: _string(line.get(name), MAX_DESCRIPTION + 100) for name in LINE_FIELDS}
        for line in (lines if isinstance(lines, list) else [])[: MAX_LINES + 1]
        if isinstance(line, dict)
    ]
    return form


def _string(value: object, cap: int) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)[:cap]


_AMOUNT = re.compile(r"^\d{1,9}(\.\d+)?$")


def parse_amount(text: str, *, digits: int, maximum: Decimal) -> Decimal:
    """A money amount typed by staff: "1200", "1,200.50", "99,5"; ValueError with a sentence."""
    s = text.strip().replace(" ", "").replace("\u00a0", "")
    if "," in s and "." not in s and re.fullmatch(r"\d+,\d{1,2}", s):
        s = s.replace(",", ".")  # a decimal comma
    elif re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")  # thousands separators
    if not _AMOUNT.match(s):
        raise ValueError("Enter an amount like 120.00.")
    value = Decimal(s)
    if value.as_tuple().exponent < -digits and value != quote_math.to_minor(value, digits):  # type: ignore[operator]
        raise ValueError(
            "Use whole units in this currency."
            if digits == 0
            else f"Use at most {digits} decimals."
        )
    if value > maximum:
        raise ValueError(f"Enter at most {maximum:,}.")
    return value


def parse_percent(text: str) -> Decimal:
    s = text.strip().rstrip("%").strip().replace(",", ".")
    try:
        value = Decimal(s)
    except InvalidOperation:
        raise ValueError("Enter a percentage like 10.") from None
    if not value.is_finite() or value < 0 or value > 100:
        raise ValueError("Enter a percentage from 0 to 100.")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError("Use at most 2 decimals.")
    return value


def _adjustment(
    kind: str, value: str, *, digits: int, key: str, errors: dict[str, str]
) -> tuple[str, Decimal]:
    if kind not in KINDS:
        errors[key.replace("value", "kind")] = "Choose an amount or a percentage."
        return "", quote_math.ZERO
    if not kind:
        return "", quote_math.ZERO
    if not value.strip():
        errors[key] = "Enter the amount." if kind == "amount" else "Enter the percentage."
        return "", quote_math.ZERO
    try:
        if kind == "percent":
            return kind, parse_percent(value)
        return kind, parse_amount(value, digits=digits, maximum=quote_math.MAX_UNIT_PRICE)
    except ValueError as exc:
        errors[key] = str(exc)
        return "", quote_math.ZERO


def _text(value: str, *, limit: int, multiline: bool, key: str, errors: dict[str, str]) -> str:
    try:
        return clean_text(value, max_length=limit, multiline=multiline)
    except TextTooLong:
        errors[key] = f"Keep this under {limit:,} characters."
        return ""


def _line(
    i: int, raw: Mapping[str, str], lookups: Lookups, digits: int, errors: dict[str, str]
) -> ParsedLine | None:
    key = f"lines.{i}."
    before = len(errors)
    item = lookups.items.get(raw["item"]) if raw["item"] else None
    package = lookups.packages.get(raw["package"]) if raw["package"] else None
    if raw["item"] and item is None:
        errors[key + "item"] = "This treatment is no longer in the catalog."
    if raw["package"] and package is None:
        errors[key + "package"] = "This package is no longer in the catalog."
    description = _text(
        raw["description"], limit=MAX_DESCRIPTION, multiline=False, key=key + "description",
        errors=errors,
    )  # fmt: skip
    if not description and key + "description" not in errors:
        errors[key + "description"] = "Describe the treatment."
    unit_label = _text(
        raw["unit_label"], limit=40, multiline=False, key=key + "unit_label", errors=errors
    )
    quantity = 1
    try:
        quantity = int(raw["quantity"].strip())
        if not 1 <= quantity <= quote_math.MAX_QUANTITY:
            raise ValueError
    except ValueError:
        errors[key + "quantity"] = f"Enter a whole number from 1 to {quote_math.MAX_QUANTITY}."
    price = quote_math.ZERO
    if not raw["unit_price"].strip():
        errors[key + "unit_price"] = "Enter the price."
    else:
        try:
            price = parse_amount(
                raw["unit_price"], digits=digits, maximum=quote_math.MAX_UNIT_PRICE
            )
        except ValueError as exc:
            errors[key + "unit_price"] = str(exc)
    kind, value = _adjustment(
        raw["discount_kind"], raw["discount_value"], digits=digits,
        key=key + "discount_value", errors=errors,
    )  # fmt: skip
    tax = lookups.taxes.get(raw["tax_class"]) if raw["tax_class"] else None
    if raw["tax_class"] and tax is None:
        errors[key + "tax_class"] = "Choose one of the clinic's tax classes."
    if len(errors) > before:
        return None
    return ParsedLine(
        item_id=uuid.UUID(item.id) if item else None,
        package_id=uuid.UUID(package.id) if package else None,
        description=description,
        unit_label=unit_label,
        tax_name=tax.name if tax else "",
        math=quote_math.LineInput(
            quantity=quantity,
            unit_price=price,
            discount_kind=kind,
            discount_value=value,
            tax_rate=tax.rate if tax else quote_math.ZERO,
        ),
    )


def parse(form: Mapping[str, Any], lookups: Lookups, *, currency: str, today: date) -> Parsed:
    """The form checked: lines and amounts, or ``errors`` (field key → sentence)."""
    digits = quote_math.minor_digits(currency)
    out = Parsed()
    errors = out.errors
    lines = form.get("lines") or []
    if len(lines) > MAX_LINES:
        errors["lines"] = f"A quote has at most {MAX_LINES} lines."
    for i, raw in enumerate(lines[:MAX_LINES]):
        parsed = _line(i, raw, lookups, digits, errors)
        if parsed is not None:
            out.lines.append(parsed)
    out.discount_kind, out.discount_value = _adjustment(
        form["discount_kind"], form["discount_value"], digits=digits,
        key="discount_value", errors=errors,
    )  # fmt: skip
    out.deposit_kind, out.deposit_value = _adjustment(
        form["deposit_kind"], form["deposit_value"], digits=digits,
        key="deposit_value", errors=errors,
    )  # fmt: skip
    try:
        out.valid_until = date.fromisoformat(form["valid_until"].strip())
        if out.valid_until < today:
            errors["valid_until"] = "Choose today or a later date."
        elif out.valid_until > today + timedelta(days=MAX_VALID_DAYS):
            errors["valid_until"] = f"Choose a date within {MAX_VALID_DAYS} days."
    except ValueError:
        errors["valid_until"] = "Choose the date until which the quote is valid."
    out.message = _text(
        form["message"], limit=MAX_TEXT, multiline=True, key="message", errors=errors
    )
    out.terms = _text(form["terms"], limit=MAX_TEXT, multiline=True, key="terms", errors=errors)
    return out


def totals(parsed: Parsed, currency: str) -> quote_math.Totals:
    return quote_math.compute(
        [line.math for line in parsed.lines],
        currency=currency,
        discount_kind=parsed.discount_kind,
        discount_value=parsed.discount_value,
        deposit_kind=parsed.deposit_kind,
        deposit_value=parsed.deposit_value,
    )
