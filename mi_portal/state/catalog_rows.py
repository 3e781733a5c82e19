"""What the catalog page shows of each service row: plain dicts with the money already formatted."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mi_portal.services.catalog import ItemRow, PackageRow, TaxClassRow
from mi_portal.services.quote_math import format_money, format_rate

TABS = ("items", "packages", "taxes", "defaults")
SHOW = ("active", "inactive", "all")
NO_TAX = "none"  # a select's "no tax class" (Radix selects cannot hold an empty value)

EMPTY_ITEM: dict[str, Any] = {
    "name": "",
    "description": "",
    "category": "",
    "unit_label": "session",
    "unit_price": "",
    "price_from": False,
    "tax_class_id": NO_TAX,
}
EMPTY_TAX: dict[str, Any] = {"name": "", "rate": ""}
EMPTY_PACKAGE: dict[str, Any] = {"name": "", "description": "", "price": "", "tax_class_id": NO_TAX}
TEXT_LIMITS = {
    "name": 200,
    "description": 2000,
    "category": 80,
    "unit_label": 40,
    "unit_price": 20,
    "price": 20,
    "rate": 12,
    "currency": 3,
    "locale": 16,
    "quote_valid_days": 4,
    "quote_terms": 4000,
}


def money(amount: Decimal, currency: str, locale: str, *, price_from: bool = False) -> str:
    text = format_money(amount, currency, locale)
    return f"from {text}" if price_from else text


def item_view(i: ItemRow, currency: str, locale: str) -> dict[str, Any]:
    return {
        "id": i.id,
        "name": i.name,
        "description": i.description,
        "category": i.category,
        "unit_label": i.unit_label,
        "unit_price": str(i.unit_price),
        "price_text": money(i.unit_price, currency, locale, price_from=i.price_from),
        "price_from": i.price_from,
        "tax_class_id": i.tax_class_id or NO_TAX,
        "tax_text": (
            f"{i.tax_class_name} ({format_rate(i.tax_rate)})"
            if i.tax_class_name and i.tax_rate is not None
            else "No tax"
        ),
        "active": i.active,
    }


def tax_view(t: TaxClassRow) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "rate": format(t.rate.normalize(), "f"),
        "rate_text": format_rate(t.rate),
        "active": t.active,
    }


def package_view(p: PackageRow, currency: str, locale: str) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "price": str(p.price),
        "price_text": money(p.price, currency, locale),
        "tax_class_id": p.tax_class_id or NO_TAX,
        "tax_text": p.tax_class_name or "No tax",
        "active": p.active,
        "items_text": ", ".join(f"{line.quantity} × {line.name}" for line in p.items),
        "lines": [
            {"item_id": line.item_id, "name": line.name, "quantity": str(line.quantity)}
            for line in p.items
        ],
    }


def field_for(field: str) -> str:
    """The form key a service's ``CatalogProblem.field`` belongs under."""
    return {"quantity": "items"}.get(field, field)
