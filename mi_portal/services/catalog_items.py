"""Catalog tax classes and treatment items (see ``services.catalog`` for the whole service).

Everything here is the clinic's own price list (no patient data), so the audit log keeps old and
new values. Prices are in the clinic's currency (``Tenant.currency``); an item's ``currency``
column is kept equal to it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import TaxClass, Tenant, TreatmentItem
from mi_portal.services import audit
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.catalog_rules import CatalogProblem, clean_field, parse_money, parse_rate
from mi_portal.services.permissions import Permission, check


@dataclass(frozen=True)
class TaxClassRow:
    id: str
    name: str
    rate: Decimal
    active: bool


@dataclass(frozen=True)
class ItemRow:
    id: str
    name: str
    description: str
    category: str
    unit_label: str
    unit_price: Decimal
    price_from: bool
    tax_class_id: str
    tax_class_name: str
    tax_rate: Decimal | None
    active: bool


def _tax_map(session: ScopedSession) -> dict[uuid.UUID, TaxClass]:
    return {t.id: t for t in session.exec(select(TaxClass))}


def _tax_row(t: TaxClass) -> TaxClassRow:
    return TaxClassRow(id=str(t.id), name=t.name, rate=Decimal(t.rate), active=t.active)


def _item_row(i: TreatmentItem, taxes: dict[uuid.UUID, TaxClass]) -> ItemRow:
    tax = taxes.get(i.tax_class_id) if i.tax_class_id else None
    return ItemRow(
        id=str(i.id),
        name=i.name,
        description=i.description,
        category=i.category,
        unit_label=i.unit_label,
        unit_price=Decimal(i.unit_price),
        price_from=i.price_from,
        tax_class_id=str(tax.id) if tax else "",
        tax_class_name=tax.name if tax else "",
        tax_rate=Decimal(tax.rate) if tax else None,
        active=i.active,
    )


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def _record(actor: Actor, action: str, kind: str, target: uuid.UUID, details: dict[str, Any]):  # type: ignore[no-untyped-def]
    audit.record(actor, action, target_type=kind, target_id=target, details=details)


def clinic_currency(session: ScopedSession, tenant_id: uuid.UUID) -> tuple[str, str]:
    """(currency, locale) of the clinic."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("clinic")
    return tenant.currency, tenant.locale


# --- tax classes -----------------------------------------------------------------------------


def list_tax_classes(actor: Actor) -> list[TaxClassRow]:
    """The clinic's tax classes by name, inactive ones included."""
    check(actor, Permission.CATALOG_MANAGE)
    with tenant_session(actor.require_tenant()) as session:
        rows = session.exec(select(TaxClass).order_by(col(TaxClass.name)))
        return [_tax_row(t) for t in rows]


def save_tax_class(actor: Actor, tax_class_id: object | None, *, name: object, rate: object) -> str:
    """Create (``tax_class_id`` None) or change a tax class; audited with old and new values."""
    check(actor, Permission.CATALOG_MANAGE)
    clean_name = clean_field(name, "name", 80, required=True)
    clean_rate = parse_rate(rate)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        clash = session.exec(select(TaxClass.id).where(TaxClass.name == clean_name)).first()
        if tax_class_id in (None, ""):
            row, before, action = (
                TaxClass(name=clean_name, rate=clean_rate),
                {},
                "tax_class.created",
            )
        else:
            found = session.get(TaxClass, (tenant_id, parse_id(tax_class_id, "tax class")))
            if found is None:
                raise NotFound("tax class")
            row, before, action = found, _tax_summary(found), "tax_class.changed"
        if clash is not None and clash != row.id:
            raise CatalogProblem("name", "A tax class with this name exists.")
        row.name, row.rate = clean_name, clean_rate
        session.add(row)
        session.commit()
        target, after = row.id, _tax_summary(row)
    _record(actor, action, "tax_class", target, _diff(before, after))
    return str(target)


def _tax_summary(t: TaxClass) -> dict[str, Any]:
    return {"name": t.name, "rate": format(Decimal(t.rate).normalize(), "f"), "active": t.active}


def _set_active(
    actor: Actor, model: type[Any], raw_id: object, active: bool, what: str, kind: str
) -> None:
    check(actor, Permission.CATALOG_MANAGE)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        row = session.get(model, (tenant_id, parse_id(raw_id, what)))
        if row is None:
            raise NotFound(what)
        before, target = row.active, row.id
        row.active = bool(active)
        session.add(row)
        session.commit()
    action = f"{kind}.activated" if active else f"{kind}.deactivated"
    _record(actor, action, kind, target, {"active": [before, bool(active)]})


def set_tax_class_active(actor: Actor, tax_class_id: object, active: bool) -> None:
    """Deactivate (not offered for new items) or reactivate a tax class."""
    _set_active(actor, TaxClass, tax_class_id, active, "tax class", "tax_class")


def _usable_tax(
    session: ScopedSession, tenant_id: uuid.UUID, wanted: object, current: uuid.UUID | None
) -> uuid.UUID | None:
    """The tax class a row may point at: this clinic's, and active unless it is kept as it was."""
    if wanted in (None, ""):
        return None
    try:
        tax_id = parse_id(wanted, "tax class")
    except NotFound:
        raise CatalogProblem("tax_class_id", "Choose one of the clinic's tax classes.") from None
    tax = session.get(TaxClass, (tenant_id, tax_id))
    if tax is None:
        raise CatalogProblem("tax_class_id", "Choose one of the clinic's tax classes.")
    if not tax.active and tax.id != current:
        raise CatalogProblem("tax_class_id", f"The tax class {tax.name} is not active.")
    return tax.id


# --- treatment items -------------------------------------------------------------------------


def list_items(
    actor: Actor, *, active: bool | None = None, category: str | None = None
) -> list[ItemRow]:
    """The clinic's items by category and name; ``active``/``category`` filter when given."""
    check(actor, Permission.CATALOG_MANAGE)
    with tenant_session(actor.require_tenant()) as session:
        stmt = select(TreatmentItem).order_by(col(TreatmentItem.category), col(TreatmentItem.name))
        if active is not None:
            stmt = stmt.where(col(TreatmentItem.active).is_(bool(active)))
        if category:
            stmt = stmt.where(TreatmentItem.category == category)
        taxes = _tax_map(session)
        return [_item_row(i, taxes) for i in session.exec(stmt)]


def categories(actor: Actor) -> list[str]:
    """The categories the clinic's items use, sorted."""
    check(actor, Permission.CATALOG_MANAGE)
    with tenant_session(actor.require_tenant()) as session:
        found = session.exec(select(TreatmentItem.category).distinct()).all()
        return sorted(c for c in found if c)


@dataclass(frozen=True)
class ItemInput:
    name: str
    description: str
    category: str
    unit_label: str
    unit_price: Decimal
    price_from: bool


def parse_item(
    currency: str,
    *,
    name: object,
    description: object = "",
    category: object = "",
    unit_label: object = "session",
    unit_price: object,
    price_from: object = False,
) -> ItemInput:
    """An item's fields checked and cleaned; ``CatalogProblem`` names the first bad field."""
    return ItemInput(
        name=clean_field(name, "name", 200, required=True),
        description=clean_field(description, "description", 2000, multiline=True),
        category=clean_field(category, "category", 80),
        unit_label=clean_field(unit_label, "unit_label", 40) or "session",
        unit_price=parse_money(unit_price, currency, field="unit_price"),
        price_from=price_from is True,
    )


def item_summary(i: TreatmentItem) -> dict[str, Any]:
    return {
        "name": i.name,
        "description": i.description,
        "category": i.category,
        "unit_label": i.unit_label,
        "unit_price": str(i.unit_price),
        "price_from": i.price_from,
        "tax_class_id": str(i.tax_class_id) if i.tax_class_id else None,
        "active": i.active,
    }


def apply_item(row: TreatmentItem, data: ItemInput, currency: str) -> None:
    row.name, row.description, row.category = data.name, data.description, data.category
    row.unit_label, row.unit_price, row.price_from = (
        data.unit_label, data.unit_price, data.price_from
    )  # fmt: skip
    row.currency = currency


def save_item(
    actor: Actor,
    item_id: object | None,
    *,
    name: object,
    description: object = "",
    category: object = "",
    unit_label: object = "session",
    unit_price: object,
    price_from: object = False,
    tax_class_id: object = None,
) -> str:
    """Create (``item_id`` None) or change a treatment item; audited with old and new values."""
    check(actor, Permission.CATALOG_MANAGE)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        currency, _locale = clinic_currency(session, tenant_id)
        data = parse_item(
            currency,
            name=name,
            description=description,
            category=category,
            unit_label=unit_label,
            unit_price=unit_price,
            price_from=price_from,
        )
        if item_id in (None, ""):
            row = TreatmentItem(name=data.name, unit_price=data.unit_price)
            before: dict[str, Any] = {}
            action = "catalog_item.created"
        else:
            found = session.get(TreatmentItem, (tenant_id, parse_id(item_id, "treatment item")))
            if found is None:
                raise NotFound("treatment item")
            row, before, action = found, item_summary(found), "catalog_item.changed"
        clash = session.exec(
            select(TreatmentItem.id).where(TreatmentItem.name == data.name)
        ).first()
        if clash is not None and clash != row.id:
            raise CatalogProblem("name", "An item with this name exists.")
        row.tax_class_id = _usable_tax(session, tenant_id, tax_class_id, row.tax_class_id)
        apply_item(row, data, currency)
        session.add(row)
        session.commit()
        target, after = row.id, item_summary(row)
    _record(actor, action, "catalog_item", target, _diff(before, after))
    return str(target)


def set_item_active(actor: Actor, item_id: object, active: bool) -> None:
    """Deactivate (no longer offered on quotes) or reactivate an item."""
    _set_active(actor, TreatmentItem, item_id, active, "treatment item", "catalog_item")
