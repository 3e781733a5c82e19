"""The clinic's treatment catalog: tax classes, treatment items, packages and quote defaults.

Everything here is the clinic's own price list (no patient data), so the audit log keeps old and
new values. Prices are in the clinic's currency (``Tenant.currency``); an item's ``currency``
column is kept equal to it. Input is checked by the ``parse_*`` helpers, whose sentences are
shown under the form's fields and, prefixed with a line number, by the CSV import.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import PackageItem, TaxClass, Tenant, TreatmentItem, TreatmentPackage
from mi_portal.services import audit
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.catalog_defaults import (
    DefaultsSaved,
    QuoteDefaults,
    get_defaults,
    save_defaults,
)
from mi_portal.services.catalog_rules import (
    CatalogProblem,
    clean_field,
    parse_money,
    parse_quantity,
    parse_rate,
)
from mi_portal.services.permissions import Permission, check

# The defaults live in their own module (kept short); they are part of this service's API.
__all__ = ["CatalogProblem", "DefaultsSaved", "QuoteDefaults", "get_defaults", "save_defaults"]


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


@dataclass(frozen=True)
class PackageLine:
    item_id: str
    name: str
    quantity: int


@dataclass(frozen=True)
class PackageRow:
    id: str
    name: str
    description: str
    price: Decimal
    tax_class_id: str
    tax_class_name: str
    tax_rate: Decimal | None
    active: bool
    items: tuple[PackageLine, ...]


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


# --- packages --------------------------------------------------------------------------------


def _package_rows(
    session: ScopedSession, packages: Iterable[TreatmentPackage], taxes: dict[uuid.UUID, TaxClass]
) -> list[PackageRow]:
    names = {i.id: i.name for i in session.exec(select(TreatmentItem))}
    lines: dict[uuid.UUID, list[PackageLine]] = {}
    for p in session.exec(select(PackageItem).order_by(col(PackageItem.position))):
        lines.setdefault(p.package_id, []).append(
            PackageLine(str(p.treatment_item_id), names.get(p.treatment_item_id, ""), p.quantity)
        )
    out = []
    for pkg in packages:
        tax = taxes.get(pkg.tax_class_id) if pkg.tax_class_id else None
        out.append(
            PackageRow(
                id=str(pkg.id),
                name=pkg.name,
                description=pkg.description,
                price=Decimal(pkg.price),
                tax_class_id=str(tax.id) if tax else "",
                tax_class_name=tax.name if tax else "",
                tax_rate=Decimal(tax.rate) if tax else None,
                active=pkg.active,
                items=tuple(lines.get(pkg.id, ())),
            )
        )
    return out


def list_packages(actor: Actor) -> list[PackageRow]:
    """The clinic's packages by name with their items."""
    check(actor, Permission.CATALOG_MANAGE)
    with tenant_session(actor.require_tenant()) as session:
        packages = session.exec(select(TreatmentPackage).order_by(col(TreatmentPackage.name)))
        return _package_rows(session, list(packages), _tax_map(session))


def _package_items(
    session: ScopedSession, tenant_id: uuid.UUID, items: object
) -> list[tuple[uuid.UUID, int]]:
    if not isinstance(items, list | tuple) or not items:
        raise CatalogProblem("items", "Add at least one item to the package.")
    if len(items) > 50:
        raise CatalogProblem("items", "A package can hold at most 50 items.")
    out: list[tuple[uuid.UUID, int]] = []
    for entry in items:
        if not isinstance(entry, dict):
            raise CatalogProblem("items", "Choose the package's items from the catalog.")
        item_id = parse_id(entry.get("item_id"), "treatment item")
        if session.get(TreatmentItem, (tenant_id, item_id)) is None:
            raise NotFound("treatment item")
        if any(seen == item_id for seen, _ in out):
            raise CatalogProblem("items", "List each item once and set its quantity.")
        out.append((item_id, parse_quantity(entry.get("quantity"))))
    return out


def _package_summary(p: TreatmentPackage, items: list[tuple[uuid.UUID, int]]) -> dict[str, Any]:
    return {
        "name": p.name,
        "description": p.description,
        "price": str(p.price),
        "tax_class_id": str(p.tax_class_id) if p.tax_class_id else None,
        "active": p.active,
        "items": [[str(i), q] for i, q in items],
    }


def save_package(
    actor: Actor,
    package_id: object | None,
    *,
    name: object,
    description: object = "",
    price: object,
    tax_class_id: object = None,
    items: object,
) -> str:
    """Create or change a package; ``items`` is a list of {"item_id", "quantity"}."""
    check(actor, Permission.CATALOG_MANAGE)
    tenant_id = actor.require_tenant()
    clean_name = clean_field(name, "name", 200, required=True)
    clean_description = clean_field(description, "description", 2000, multiline=True)
    with tenant_session(tenant_id) as session:
        currency, _locale = clinic_currency(session, tenant_id)
        clean_price = parse_money(price, currency, field="price")
        if package_id in (None, ""):
            row = TreatmentPackage(name=clean_name, price=clean_price)
            before: dict[str, Any] = {}
            action, old_lines = "catalog_package.created", []
        else:
            found = session.get(TreatmentPackage, (tenant_id, parse_id(package_id, "package")))
            if found is None:
                raise NotFound("package")
            old_lines = list(
                session.exec(select(PackageItem).where(PackageItem.package_id == found.id))
            )
            old = [
                (p.treatment_item_id, p.quantity)
                for p in sorted(old_lines, key=lambda p: p.position)
            ]
            row, before, action = found, _package_summary(found, old), "catalog_package.changed"
        wanted = _package_items(session, tenant_id, items)
        clash = session.exec(
            select(TreatmentPackage.id).where(TreatmentPackage.name == clean_name)
        ).first()
        if clash is not None and clash != row.id:
            raise CatalogProblem("name", "A package with this name exists.")
        row.tax_class_id = _usable_tax(session, tenant_id, tax_class_id, row.tax_class_id)
        row.name, row.description, row.price = clean_name, clean_description, clean_price
        session.add(row)
        for line in old_lines:
            session.delete(line)
        session.flush()
        for position, (item_id, quantity) in enumerate(wanted):
            session.add(
                PackageItem(
                    package_id=row.id,
                    treatment_item_id=item_id,
                    quantity=quantity,
                    position=position,
                )
            )
        session.commit()
        target, after = row.id, _package_summary(row, wanted)
    _record(actor, action, "catalog_package", target, _diff(before, after))
    return str(target)


def set_package_active(actor: Actor, package_id: object, active: bool) -> None:
    """Deactivate or reactivate a package."""
    _set_active(actor, TreatmentPackage, package_id, active, "package", "catalog_package")


# --- what the quote builder offers -----------------------------------------------------------


@dataclass(frozen=True)
class QuoteCatalog:
    currency: str
    locale: str
    items: tuple[ItemRow, ...]
    packages: tuple[PackageRow, ...]


def catalog_for_quote(actor: Actor) -> QuoteCatalog:
    """Active items and packages, with prices, tax names and rates (anyone who drafts quotes)."""
    check(actor, Permission.QUOTES_EDIT)
    tenant_id = actor.require_tenant()
    with tenant_session(tenant_id) as session:
        currency, locale = clinic_currency(session, tenant_id)
        taxes = _tax_map(session)
        items = session.exec(
            select(TreatmentItem)
            .where(col(TreatmentItem.active).is_(True))
            .order_by(col(TreatmentItem.category), col(TreatmentItem.name))
        )
        packages = session.exec(
            select(TreatmentPackage)
            .where(col(TreatmentPackage.active).is_(True))
            .order_by(col(TreatmentPackage.name))
        )
        return QuoteCatalog(
            currency=currency,
            locale=locale,
            items=tuple(_item_row(i, taxes) for i in items),
            packages=tuple(_package_rows(session, list(packages), taxes)),
        )
