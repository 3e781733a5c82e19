"""The treatment catalog: tax classes, items, packages, defaults, CSV, isolation, on both databases."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlmodel import select

from mi_portal.db import tenant_session
from mi_portal.models import AuditEvent, Role, TreatmentItem
from mi_portal.services import catalog, catalog_csv, quotes
from mi_portal.services.actor import Actor, NotFound, PermissionDenied
from mi_portal.services.catalog import CatalogProblem
from tests.conftest import Database
from tests.factories import make_tenant, make_user, owner_session


def _actor(tenant_id: uuid.UUID, role: Role = Role.CLINIC_MANAGER) -> Actor:
    user_id, _ = make_user(
        f"{uuid.uuid4().hex[:8]}@staff.test", role=role.value, tenants=(tenant_id,)
    )
    return Actor(user_id=user_id, role=role, tenant_id=tenant_id)


@pytest.fixture
def clinics(db: Database) -> tuple[Actor, Actor]:
    a, b = make_tenant("clinic-a"), make_tenant("clinic-b")
    return _actor(a), _actor(b)


def _audit(action: str) -> list[AuditEvent]:
    with owner_session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


def test_tax_classes_are_created_changed_and_deactivated(clinics: tuple[Actor, Actor]) -> None:
    a, _ = clinics
    tax = catalog.save_tax_class(a, None, name="Standard", rate="20")
    catalog.save_tax_class(a, tax, name="Standard rate", rate="20.125")
    [row] = catalog.list_tax_classes(a)
    assert (row.name, row.rate, row.active) == ("Standard rate", Decimal("20.125"), True)
    catalog.set_tax_class_active(a, tax, False)
    assert catalog.list_tax_classes(a)[0].active is False
    changed = _audit("tax_class.changed")[0]
    assert changed.details["name"] == ["Standard", "Standard rate"]
    assert changed.details["rate"] == ["20", "20.125"]
    for bad in ("-1", "100.5", "abc", "1.23456", ""):
        with pytest.raises(CatalogProblem) as problem:
            catalog.save_tax_class(a, None, name=f"Bad {bad}", rate=bad)
        assert problem.value.field == "rate"
    with pytest.raises(CatalogProblem, match="exists"):
        catalog.save_tax_class(a, None, name="Standard rate", rate="5")


def test_items_validate_price_name_and_tax_class(clinics: tuple[Actor, Actor]) -> None:
    a, _ = clinics
    tax = catalog.save_tax_class(a, None, name="Standard", rate="20")
    item = catalog.save_item(
        a,
        None,
        name="  Lip  filler ",
        category="Injectables",
        unit_label="syringe",
        unit_price="320.5",
        price_from=True,
        tax_class_id=tax,
    )
    [row] = catalog.list_items(a)
    assert row.name == "Lip filler" and row.unit_price == Decimal("320.50")
    assert row.price_from and row.tax_class_name == "Standard" and row.tax_rate == Decimal("20")
    cases = {
        "unit_price": ["-1", "10.001", "10000000", "ten", "1e3", ""],
        "name": ["", "x" * 201],
    }
    for key, values in cases.items():
        for value in values:
            fields = {"name": "Other", "unit_price": "1.00", key: value}
            with pytest.raises(CatalogProblem) as problem:
                catalog.save_item(a, None, **fields)  # type: ignore[arg-type]
            assert problem.value.field == key, value
    with pytest.raises(CatalogProblem, match="exists"):
        catalog.save_item(a, None, name="Lip filler", unit_price="1")
    catalog.set_tax_class_active(a, tax, False)
    with pytest.raises(CatalogProblem, match="not active"):
        catalog.save_item(a, None, name="New", unit_price="1", tax_class_id=tax)
    # Keeping an item's (now inactive) tax class while changing its price is allowed.
    catalog.save_item(a, item, name="Lip filler", unit_price="330", tax_class_id=tax)
    catalog.set_item_active(a, item, False)
    assert catalog.list_items(a, active=True) == []
    assert [i.name for i in catalog.list_items(a, active=False)] == ["Lip filler"]
    assert catalog.list_items(a, category="Skin") == []
    changed = _audit("catalog_item.changed")[0]
    assert changed.details["unit_price"] == ["320.50", "330.00"]


def test_packages_hold_the_clinics_items(clinics: tuple[Actor, Actor]) -> None:
    a, b = clinics
    peel = catalog.save_item(a, None, name="Peel", unit_price="100")
    mask = catalog.save_item(a, None, name="Mask", unit_price="40")
    foreign = catalog.save_item(b, None, name="Peel", unit_price="90")
    pkg = catalog.save_package(
        a,
        None,
        name="Glow course",
        price="399",
        items=[{"item_id": peel, "quantity": 3}, {"item_id": mask, "quantity": "2"}],
    )
    [row] = catalog.list_packages(a)
    assert row.price == Decimal("399.00")
    assert [(i.name, i.quantity) for i in row.items] == [("Peel", 3), ("Mask", 2)]
    with pytest.raises(NotFound):
        catalog.save_package(
            a, pkg, name="Glow course", price="399", items=[{"item_id": foreign, "quantity": 1}]
        )
    with pytest.raises(CatalogProblem):
        catalog.save_package(a, None, name="Empty", price="1", items=[])
    with pytest.raises(CatalogProblem):
        catalog.save_package(
            a, None, name="Twice", price="1", items=[{"item_id": peel, "quantity": 1}] * 2
        )
    catalog.save_package(a, pkg, name="Glow", price="380", items=[{"item_id": mask, "quantity": 1}])
    assert [(i.name, i.quantity) for i in catalog.list_packages(a)[0].items] == [("Mask", 1)]
    catalog.set_package_active(a, pkg, False)
    assert all(r["kind"] != "package" for r in quotes.catalog_choices(a))


def test_defaults_and_currency_change(clinics: tuple[Actor, Actor]) -> None:
    a, _ = clinics
    catalog.save_item(a, None, name="Peel", unit_price="100.50")
    saved = catalog.save_defaults(
        a, currency="eur", locale="de-DE", quote_valid_days="14", quote_terms="Pay on the day."
    )
    assert saved.currency_changed and saved.items_in_new_currency == 1
    defaults = catalog.get_defaults(a)
    assert (defaults.currency, defaults.locale, defaults.quote_valid_days) == ("EUR", "de_DE", 14)
    with tenant_session(a.require_tenant()) as session:
        assert session.exec(select(TreatmentItem.currency)).all() == ["EUR"]
    with pytest.raises(CatalogProblem, match="decimals"):
        catalog.save_defaults(
            a, currency="JPY", locale="ja_JP", quote_valid_days=30, quote_terms=""
        )
    for field, kwargs in {
        "currency": {"currency": "XXY"},
        "currency_3": {"currency": "BHD"},  # three decimals
        "locale": {"locale": "zz_QQ_nope"},
        "quote_valid_days": {"quote_valid_days": 400},
        "quote_terms": {"quote_terms": "x" * 4001},
    }.items():
        args = {"currency": "EUR", "locale": "en_GB", "quote_valid_days": 30, "quote_terms": ""}
        with pytest.raises(CatalogProblem) as problem:
            catalog.save_defaults(a, **{**args, **kwargs})
        assert problem.value.field == field.split("_3")[0]
    # The currency's own minor unit decides how many decimals a price may have.
    catalog.save_item(a, None, name="Round", unit_price="100")
    with pytest.raises(CatalogProblem, match="decimals"):
        catalog.save_defaults(
            a, currency="JPY", locale="ja_JP", quote_valid_days=30, quote_terms=""
        )
    catalog.save_item(a, catalog.list_items(a)[0].id, name="Peel", unit_price="100")
    catalog.save_defaults(a, currency="JPY", locale="ja_JP", quote_valid_days=30, quote_terms="")
    with pytest.raises(CatalogProblem, match="whole number"):
        catalog.save_item(a, None, name="Yen", unit_price="10.50")


def test_the_quote_builder_offers_active_rows_to_quote_drafters(
    clinics: tuple[Actor, Actor],
) -> None:
    a, _ = clinics
    tax = catalog.save_tax_class(a, None, name="Standard", rate="20")
    item = catalog.save_item(a, None, name="Peel", unit_price="100", tax_class_id=tax)
    catalog.save_item(a, None, name="Old", unit_price="1")
    catalog.set_item_active(a, catalog.list_items(a)[0].id, False)  # "Old" sorts first
    catalog.save_package(
        a, None, name="Course", price="250", items=[{"item_id": item, "quantity": 3}]
    )
    coordinator = _actor(a.require_tenant(), Role.COORDINATOR)
    offer = quotes.catalog_choices(coordinator)
    assert [(r["kind"], r["name"]) for r in offer] == [("item", "Peel"), ("package", "Course")]
    assert offer[0]["tax_class"] == tax and offer[0]["price"] == "100.00"
    assert offer[0]["label"] == "Peel · $100.00"
    with pytest.raises(PermissionDenied):
        catalog.list_items(coordinator)
    viewer = _actor(a.require_tenant(), Role.VIEWER)
    with pytest.raises(PermissionDenied):
        quotes.catalog_choices(viewer)


def test_one_clinic_cannot_reach_anothers_catalog(clinics: tuple[Actor, Actor]) -> None:
    a, b = clinics
    tax = catalog.save_tax_class(b, None, name="B tax", rate="10")
    item = catalog.save_item(b, None, name="B item", unit_price="10", tax_class_id=tax)
    pkg = catalog.save_package(
        b, None, name="B pkg", price="9", items=[{"item_id": item, "quantity": 1}]
    )
    assert catalog.list_items(a) == [] and catalog.list_tax_classes(a) == []
    assert catalog.list_packages(a) == [] and quotes.catalog_choices(a) == []
    missing = str(uuid.uuid4())
    for target in (item, missing):
        with pytest.raises(NotFound):
            catalog.save_item(a, target, name="Taken", unit_price="1")
        with pytest.raises(NotFound):
            catalog.set_item_active(a, target, False)
    for target in (tax, missing):
        with pytest.raises(NotFound):
            catalog.save_tax_class(a, target, name="Taken", rate="1")
        with pytest.raises(NotFound):
            catalog.set_tax_class_active(a, target, False)
    for target in (pkg, missing):
        with pytest.raises(NotFound):
            catalog.save_package(a, target, name="Taken", price="1", items=[])
        with pytest.raises(NotFound):
            catalog.set_package_active(a, target, False)
    # Another clinic's tax class reads like an unknown one on an item of this clinic.
    with pytest.raises(CatalogProblem) as problem:
        catalog.save_item(a, None, name="Mine", unit_price="1", tax_class_id=tax)
    assert problem.value.field == "tax_class_id"
    # Same names in two clinics are two rows; B's are unchanged.
    catalog.save_item(a, None, name="B item", unit_price="99")
    assert [(i.name, i.unit_price, i.active) for i in catalog.list_items(b)] == [
        ("B item", Decimal("10.00"), True)
    ]


GOOD = (
    "name,description,category,unit_label,unit_price,price_from,tax_class,active\n"
    "Lip filler,1 ml,Injectables,syringe,320.00,yes,Standard,yes\n"
    'Peel,"Light, superficial",Skin,session,120,no,,\n'
)


def test_csv_with_one_bad_line_imports_nothing(clinics: tuple[Actor, Actor]) -> None:
    a, _ = clinics
    catalog.save_tax_class(a, None, name="Standard", rate="20")
    bad = GOOD + "Laser,,Laser,session,12O.00,no,,yes\n" + "Mask,,Skin,session,10,maybe,Nope,yes\n"
    result = catalog_csv.import_csv(a, bad.encode())
    assert not result.ok and result.created == 0
    assert result.errors == [
        "Line 4: price must be a number like 120.00",
        "Line 5: price_from must be yes or no",
    ]
    assert catalog.list_items(a) == []
    dup = GOOD + "Peel,,Skin,session,1,,,\n" + ",,,,1,,,\n" + "X,,,,1,,Other,\n"
    errors = catalog_csv.import_csv(a, dup.encode()).errors
    assert errors == [
        "Line 4: name “Peel” is also on line 3",
        "Line 5: name is required",
        "Line 6: tax class “Other” does not exist",
    ]
    assert catalog.list_items(a) == []
    assert len(_audit("catalog.import_refused")) == 2


def test_csv_file_level_problems(clinics: tuple[Actor, Actor]) -> None:
    a, _ = clinics
    assert (
        "UTF-8"
        in catalog_csv.import_csv(a, "name,unit_price\nCafé,1\n".encode("latin-1")).errors[0]
    )
    assert "larger" in catalog_csv.import_csv(a, b"x" * (catalog_csv.MAX_BYTES + 1)).errors[0]
    assert "columns" in catalog_csv.import_csv(a, b"title,price\nx,1\n").errors[0]
    too_many = "name,unit_price\n" + "".join(f"i{n},1\n" for n in range(catalog_csv.MAX_ROWS + 1))
    assert "rows" in catalog_csv.import_csv(a, too_many.encode()).errors[0]
    long_name = "name,unit_price\n" + "x" * 201 + ",1\n"
    assert catalog_csv.import_csv(a, long_name.encode()).errors == [
        "Line 2: name can be at most 200 characters"
    ]
    assert catalog.list_items(a) == []


def test_csv_upserts_by_name_and_round_trips(clinics: tuple[Actor, Actor]) -> None:
    a, b = clinics
    catalog.save_tax_class(a, None, name="Standard", rate="20")
    catalog.save_item(a, None, name="Peel", unit_price="99", category="Old")
    result = catalog_csv.import_csv(a, GOOD.encode("utf-8-sig"))
    assert (result.ok, result.created, result.updated) == (True, 1, 1)
    rows = {i.name: i for i in catalog.list_items(a)}
    assert rows["Peel"].unit_price == Decimal("120.00") and rows["Peel"].category == "Skin"
    assert rows["Peel"].description == "Light, superficial"
    assert rows["Lip filler"].tax_class_name == "Standard" and rows["Lip filler"].price_from
    assert _audit("catalog.imported")[0].details == {"created": 1, "updated": 1, "rows": 2}
    # A formula-looking name survives export and import unchanged.
    catalog.save_item(a, None, name="=Sum deal", unit_price="5.5")
    exported = catalog_csv.export_csv(a)
    assert "'=Sum deal" in exported
    before = catalog.list_items(a)
    again = catalog_csv.import_csv(a, exported.encode())
    assert (again.ok, again.created, again.updated) == (True, 0, 3)
    assert catalog.list_items(a) == before
    # Into another clinic (with the same tax class name): the same catalog, B's own rows.
    catalog.save_tax_class(b, None, name="Standard", rate="20")
    assert catalog_csv.import_csv(b, exported.encode()).created == 3
    strip = [(i.name, i.unit_price, i.tax_class_name, i.active) for i in catalog.list_items(b)]
    assert strip == [(i.name, i.unit_price, i.tax_class_name, i.active) for i in before]


def test_csv_only_changes_the_columns_it_has(clinics: tuple[Actor, Actor]) -> None:
    a, _ = clinics
    catalog.save_item(a, None, name="Peel", unit_price="99", category="Skin", unit_label="visit")
    assert catalog_csv.import_csv(a, b"name,unit_price\nPeel,101\n").updated == 1
    [row] = catalog.list_items(a)
    assert (row.unit_price, row.category, row.unit_label) == (Decimal("101.00"), "Skin", "visit")


def test_only_owner_and_manager_manage_the_catalog(clinics: tuple[Actor, Actor]) -> None:
    a, _ = clinics
    tenant = a.require_tenant()
    for role in (Role.COORDINATOR, Role.PROVIDER, Role.VIEWER):
        other = _actor(tenant, role)
        with pytest.raises(PermissionDenied):
            catalog.save_item(other, None, name="X", unit_price="1")
        with pytest.raises(PermissionDenied):
            catalog_csv.import_csv(other, GOOD.encode())
        with pytest.raises(PermissionDenied):
            catalog.save_defaults(
                other, currency="EUR", locale="en", quote_valid_days=1, quote_terms=""
            )
    owner = _actor(tenant, Role.CLINIC_OWNER)
    catalog.save_item(owner, None, name="X", unit_price="1")


def test_demo_catalog_is_seeded_once_and_offered_on_quotes(clinics: tuple[Actor, Actor]) -> None:
    from mi_portal.jobs.seed import DEMO_CATALOG, seed_catalog

    a, b = clinics
    for _ in range(2):
        with tenant_session(a.require_tenant()) as session:
            seed_catalog(session, a.require_tenant())
            session.commit()
    offer = quotes.catalog_choices(a)
    assert [r["kind"] for r in offer].count("item") == len(DEMO_CATALOG)
    assert [r["kind"] for r in offer].count("package") == 2
    items = catalog.list_items(a)
    assert {i.category for i in items} == {"Injectables", "Skin", "Hair", "Laser"}
    assert all(r["tax_class"] for r in offer)
    assert [t.name for t in catalog.list_tax_classes(a)] == ["Exempt", "Standard rate"]
    assert catalog.list_items(b) == []
