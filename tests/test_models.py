"""Schema rules that hold for every table, checked on the metadata (no database needed)."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import SQLModel

from mi_portal.models import NOT_PERSONAL, DataCategory, tenant_models, uuid7

ALL_TABLES = [t for t in SQLModel.metadata.sorted_tables]
TENANT_TABLES = {m.__tablename__ for m in tenant_models()}  # type: ignore[attr-defined]
CATEGORIES = {c.value for c in DataCategory} | {NOT_PERSONAL}


def _structural(column) -> bool:  # type: ignore[no-untyped-def]
    # Keys carry no personal data of their own: the rows they point at are categorised.
    return column.primary_key or bool(column.foreign_keys)


def _undeclared(table) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        c.name
        for c in table.columns
        if not _structural(c) and c.info.get("category") not in CATEGORIES
    ]


def _undeclared(table) -> list[str]:  # type: ignore[no-untyped-def]
    """Columns that neither declare a data category nor are marked as not personal."""
    return [
        c.name
        for c in table.columns
        if not _structural(c) and c.info.get("category") not in CATEGORIES
    ]


@pytest.mark.parametrize("table", ALL_TABLES, ids=lambda t: t.name)
def test_every_column_declares_its_data_category(table) -> None:  # type: ignore[no-untyped-def]
    undeclared = _undeclared(table)
    assert undeclared == [], (
        f"{table.name}: declare a DataCategory with personal(...) or mark plain(...): {undeclared}"
    )


def test_category_check_catches_an_undeclared_column() -> None:
    import sqlalchemy as sa

    table = sa.Table(
        "probe",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("nickname", sa.String),
    )
    assert _undeclared(table) == ["nickname"]


def test_the_product_tables_exist() -> None:
    names = {t.name for t in ALL_TABLES}
    expected = {
        "tenant", "user_account", "membership", "patient", "submission", "submissionimage",
        "imagerendition", "casenote", "treatmentitem", "quote", "quoteline", "messagethread",
        "message", "outboxmessage", "consentrecord", "retentionpolicy", "legalhold",
        "rightsrequest", "rightsrequestforward", "auditevent",
    }  # fmt: skip
    assert expected <= names


@pytest.mark.parametrize("name", sorted(TENANT_TABLES))
def test_tenant_tables_key_on_tenant_first(name: str) -> None:
    table = SQLModel.metadata.tables[name]
    assert [c.name for c in table.primary_key.columns] == ["tenant_id", "id"]
    assert table.c.tenant_id.nullable is False


@pytest.mark.parametrize("name", sorted(TENANT_TABLES))
def test_links_between_tenant_tables_include_tenant_id(name: str) -> None:
    table = SQLModel.metadata.tables[name]
    for fk in table.foreign_key_constraints:
        target = fk.referred_table.name
        if target in TENANT_TABLES:
            assert [c.name for c in fk.columns][0] == "tenant_id", f"{fk.name} skips tenant_id"
            assert [e.column.name for e in fk.elements][0] == "tenant_id"


def test_uuid7_is_time_ordered_and_unique() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 for i in ids)
    assert all(i.variant == uuid.RFC_4122 for i in ids)
    # Millisecond prefix never goes backwards.
    prefixes = [i.int >> 80 for i in ids]
    assert prefixes == sorted(prefixes)
    # 74 random bits: consecutive ids are not guessable by adding one.
    assert sum(1 for x, y in zip(ids, ids[1:], strict=False) if y.int - x.int == 1) == 0


# Columns whose content reveals (or may reveal) a health condition, and where the category of a
# column that was once mis-tagged is pinned. Retention and aggregate analytics rely on these.
PINNED_CATEGORIES = {
    ("submission", "concern_area"): DataCategory.SPECIAL_CATEGORY,
    ("submission", "answers"): DataCategory.SPECIAL_CATEGORY,
    ("casenote", "body"): DataCategory.SPECIAL_CATEGORY,
    ("annotation", "text"): DataCategory.SPECIAL_CATEGORY,
    ("submissionimage", "display_name"): DataCategory.SPECIAL_CATEGORY,
    ("quoteline", "description"): DataCategory.SPECIAL_CATEGORY,
    ("quote", "message_to_patient"): DataCategory.SPECIAL_CATEGORY,
    ("message", "body"): DataCategory.SPECIAL_CATEGORY,
    ("messagethread", "subject"): DataCategory.SPECIAL_CATEGORY,
    ("outboxmessage", "subject"): DataCategory.SPECIAL_CATEGORY,
    ("outboxmessage", "body"): DataCategory.SPECIAL_CATEGORY,
    ("submissionimage", "sha256"): DataCategory.HEALTH_IMAGE,
    ("imagerendition", "storage_key"): DataCategory.HEALTH_IMAGE,
    ("auditevent", "details"): DataCategory.CONTACT,
    ("auditevent", "ip"): DataCategory.DEVICE_NETWORK,
    ("patient", "email"): DataCategory.CONTACT,
    ("patient", "date_of_birth"): DataCategory.IDENTITY,
}


@pytest.mark.parametrize(("table", "column"), sorted(PINNED_CATEGORIES), ids=lambda v: str(v))
def test_health_revealing_columns_carry_the_pinned_category(table: str, column: str) -> None:
    found = SQLModel.metadata.tables[table].columns[column].info.get("category")
    assert found == PINNED_CATEGORIES[(table, column)].value


def test_no_free_text_column_about_a_case_is_left_as_user_content_or_inference() -> None:
    # A free-text column of a case, its photos, notes, markers, quotes or messages reveals the
    # patient's condition: user content / inference / commercial would let it into aggregates.
    case_tables = {
        "submission",
        "submissionimage",
        "casenote",
        "annotation",
        "quoteline",
        "message",
    }
    weak = {DataCategory.USER_CONTENT.value, DataCategory.INFERENCE.value}
    offenders = [
        f"{t.name}.{c.name}"
        for t in ALL_TABLES
        if t.name in case_tables
        for c in t.columns
        if c.info.get("category") in weak
    ]
    assert offenders == []
