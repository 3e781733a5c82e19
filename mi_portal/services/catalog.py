"""The clinic's treatment catalog: tax classes, treatment items, packages and quote defaults.

One service, kept in modules by concept: ``catalog_items`` (tax classes and items),
``catalog_packages`` (packages), ``catalog_defaults`` (currency, locale,
validity, terms), ``catalog_csv`` (import and export) and ``catalog_rules`` (what each field may
hold). Callers import from here. Every function takes an ``Actor``, checks its permission first,
works in the actor's clinic only (another clinic's row answers like a missing one, ``NotFound``)
and records the change in the audit log with old and new values.
"""

from __future__ import annotations

from mi_portal.services.catalog_defaults import (
    DefaultsSaved,
    QuoteDefaults,
    get_defaults,
    save_defaults,
)
from mi_portal.services.catalog_items import (
    ItemInput,
    ItemRow,
    TaxClassRow,
    apply_item,
    categories,
    clinic_currency,
    item_summary,
    list_items,
    list_tax_classes,
    parse_item,
    save_item,
    save_tax_class,
    set_item_active,
    set_tax_class_active,
)
from mi_portal.services.catalog_packages import (
    PackageLine,
    PackageRow,
    list_packages,
    save_package,
    set_package_active,
)
from mi_portal.services.catalog_rules import CatalogProblem

__all__ = [
    "CatalogProblem",
    "DefaultsSaved",
    "ItemInput",
    "ItemRow",
    "PackageLine",
    "PackageRow",
    "QuoteDefaults",
    "TaxClassRow",
    "apply_item",
    "categories",
    "clinic_currency",
    "get_defaults",
    "item_summary",
    "list_items",
    "list_packages",
    "list_tax_classes",
    "parse_item",
    "save_defaults",
    "save_item",
    "save_package",
    "save_tax_class",
    "set_item_active",
    "set_package_active",
    "set_tax_class_active",
]
