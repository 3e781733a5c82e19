"""Catalog packages (several items at one price) and what the quote builder is offered."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlmodel import col, select

from mi_portal.db import ScopedSession, tenant_session
from mi_portal.models import PackageItem, TaxClass, TreatmentItem, TreatmentPackage
from mi_portal.services.actor import Actor, NotFound, parse_id
from mi_portal.services.catalog_items import (
    _diff,
    _record,
    _set_active,
    _tax_map,
    _usable_tax,
    clinic_currency,
)
from mi_portal.services.catalog_rules import (
    CatalogProblem,
    clean_field,
    parse_money,
    parse_quantity,
)
from mi_portal.services.permissions import Permission, check


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
