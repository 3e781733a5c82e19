"""The catalog's items as CSV: export, and an import that takes every row or none.

The import reads the whole file, checks every row, and writes only if no row has a problem;
otherwise it returns one sentence per offending line ("Line 4: price must be a number like
120.00") and changes nothing. A valid file creates new items and updates those with the same
name, in one transaction. Columns: ``COLUMNS``; only ``name`` and ``unit_price`` are required,
and a column left out of the file leaves that field of an existing item as it is.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mi_portal.db import tenant_session
from mi_portal.models import TaxClass, TreatmentItem
from mi_portal.services import audit
from mi_portal.services.actor import Actor
from mi_portal.services.catalog import ItemInput, apply_item, clinic_currency, parse_item
from mi_portal.services.catalog_rules import CatalogProblem, parse_bool
from mi_portal.services.permissions import Permission, check

COLUMNS = (
    "name",
    "description",
    "category",
    "unit_label",
    "unit_price",
    "price_from",
    "tax_class",
    "active",
)
REQUIRED = ("name", "unit_price")
MAX_BYTES = 1_000_000
MAX_ROWS = 2_000
_FORMULA = ("=", "+", "-", "@")
_FIELD_WORDS = {"unit_price": "price", "unit_label": "unit_label", "tax_class_id": "tax_class"}


def _cell(text: str) -> str:
    # A spreadsheet would run a cell starting with one of these as a formula.
    return "'" + text if text[:1] in _FORMULA else text


def _uncell(text: str) -> str:
    return text[1:] if text[:1] == "'" and text[1:2] in _FORMULA else text


def export_csv(actor: Actor) -> str:
    """Every item of the clinic (active or not) as CSV text; recorded as an export."""
    check(actor, Permission.CATALOG_MANAGE)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    with tenant_session(actor.require_tenant()) as session:
        taxes = {t.id: t.name for t in session.exec(select(TaxClass))}
        items = list(session.exec(select(TreatmentItem).order_by(col(TreatmentItem.name))))
        for i in items:
            writer.writerow(
                [
                    _cell(i.name),
                    _cell(i.description),
                    _cell(i.category),
                    _cell(i.unit_label),
                    str(i.unit_price),
                    "yes" if i.price_from else "no",
                    _cell(taxes.get(i.tax_class_id, "") if i.tax_class_id else ""),
                    "yes" if i.active else "no",
                ]
            )
    audit.record(actor, "catalog.exported", details={"items": len(items)})
    # The byte-order mark makes spreadsheets read the file as UTF-8; the import accepts it.
    return "\ufeff" + out.getvalue()


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class _Row:
    line: int
    data: ItemInput
    present: frozenset[str]
    tax_class_id: uuid.UUID | None
    active: bool


def _sentence(line: int, problem: CatalogProblem) -> str:
    text = str(problem).rstrip(".")
    word = _FIELD_WORDS.get(problem.field, problem.field)
    first, _, rest = text.partition(" ")
    # "Price must be …" → "price must be …": the line number starts the sentence.
    if first.lower() in ("price", "name", "description", "category", "unit"):
        first = word
    return f"Line {line}: {first} {rest}".rstrip()


def _decode(data: bytes) -> tuple[list[dict[str, str]], list[int], list[str]] | str:
    """The rows (as dicts) and their line numbers, or one sentence about the whole file."""
    if len(data) > MAX_BYTES:
        return f"The file is larger than {MAX_BYTES // 1_000_000} MB."
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."
    if not text.strip():
        return "The file is empty."
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
        missing = [c for c in REQUIRED if c not in header]
        unknown = [h for h in header if h not in COLUMNS]
        if missing or unknown or len(set(header)) != len(header):
            return (
                "Line 1 must name the columns, each once: "
                + ", ".join(COLUMNS)
                + " (name and unit_price are required)."
            )
        rows, lines = [], []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if len(rows) >= MAX_ROWS:
                return f"The file has more than {MAX_ROWS} rows."
            lines.append(reader.line_num)
            rows.append({h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)})
            if len(cells) > len(header):
                rows[-1]["\x00extra"] = "yes"
    except csv.Error:
        return "The file is not valid CSV."
    if not rows:
        return "The file has no rows below the column names."
    return rows, lines, header


def _check_row(
    line: int,
    row: dict[str, str],
    currency: str,
    taxes: dict[str, TaxClass],
) -> _Row:
    if row.get("\x00extra"):
        raise CatalogProblem("row", "the row has more cells than there are columns")
    cells = {k: _uncell(v) for k, v in row.items()}
    data = parse_item(
        currency,
        name=cells.get("name", ""),
        description=cells.get("description", ""),
        category=cells.get("category", ""),
        unit_label=cells.get("unit_label", ""),
        unit_price=cells.get("unit_price", ""),
        price_from=parse_bool(cells.get("price_from"), "price_from", default=False),
    )
    tax_name = " ".join(cells.get("tax_class", "").split())
    tax_id = None
    if tax_name:
        tax = taxes.get(tax_name)
        if tax is None:
            raise CatalogProblem("tax_class", f"tax class “{tax_name[:80]}” does not exist")
        if not tax.active:
            raise CatalogProblem("tax_class", f"tax class “{tax.name}” is not active")
        tax_id = tax.id
    active = parse_bool(cells.get("active"), "active", default=True)
    return _Row(line, data, frozenset(row), tax_id, active)


def import_csv(actor: Actor, data: bytes) -> ImportResult:
    """Check every row, then create or update items by name; nothing is written on any error."""
    check(actor, Permission.CATALOG_MANAGE)
    tenant_id = actor.require_tenant()
    decoded = _decode(data if isinstance(data, bytes) else b"")
    if isinstance(decoded, str):
        return ImportResult(errors=[decoded])
    rows, lines, _header = decoded
    result = ImportResult()
    with tenant_session(tenant_id) as session:
        currency, _locale = clinic_currency(session, tenant_id)
        taxes = {t.name: t for t in session.exec(select(TaxClass))}
        checked: list[_Row] = []
        first_line: dict[str, int] = {}
        for line, row in zip(lines, rows, strict=True):
            try:
                item = _check_row(line, row, currency, taxes)
            except CatalogProblem as problem:
                result.errors.append(_sentence(line, problem))
                continue
            if item.data.name in first_line:
                result.errors.append(
                    f"Line {line}: name “{item.data.name[:80]}” is also on line "
                    f"{first_line[item.data.name]}"
                )
                continue
            first_line[item.data.name] = line
            checked.append(item)
        if result.errors:
            audit.record(actor, "catalog.import_refused", details={"errors": len(result.errors)})
            return result
        existing = {i.name: i for i in session.exec(select(TreatmentItem))}
        for item in checked:
            _upsert(session, existing.get(item.data.name), item, currency, result)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return ImportResult(errors=["The catalog changed while importing; try again."])
    audit.record(
        actor,
        "catalog.imported",
        details={"created": result.created, "updated": result.updated, "rows": len(checked)},
    )
    return result


def _upsert(
    session: Any, row: TreatmentItem | None, item: _Row, currency: str, result: ImportResult
) -> None:
    if row is None:
        row = TreatmentItem(name=item.data.name, unit_price=item.data.unit_price)
        apply_item(row, item.data, currency)
        row.tax_class_id, row.active = item.tax_class_id, item.active
        result.created += 1
    else:
        # Columns left out of the file keep the item's current values.
        kept = {k: getattr(row, k) for k in ("description", "category", "unit_label", "price_from")}
        apply_item(row, item.data, currency)
        for key, value in kept.items():
            if key not in item.present:
                setattr(row, key, value)
        if "tax_class" in item.present:
            row.tax_class_id = item.tax_class_id
        if "active" in item.present:
            row.active = item.active
        result.updated += 1
    session.add(row)
