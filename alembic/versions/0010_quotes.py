"""Quotes: tax classes, packages, catalog fields, quote versions with their computed amounts.

``taxclass``, ``treatmentpackage`` and ``packageitem`` are tenant-owned and get the same forced
row-level security as every other (revision 0002). ``quote`` becomes one *version* of a case's
offer (unique per case and version number) and stores every amount it shows beside its inputs;
``quoteline`` copies the price, discount and tax rate it was made with. The clinic gains its
currency, locale, default validity and standard terms.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "current_setting('app.tenant_id')::uuid"
NEW_TABLES = ("taxclass", "treatmentpackage", "packageitem")
ZERO = sa.text("'0'")
# As in revision 0001: exact decimals on PostgreSQL, exact text on SQLite.
MONEY = sa.Numeric(14, 2).with_variant(sa.String(32), "sqlite")
RATE = sa.Numeric(7, 4).with_variant(sa.String(16), "sqlite")


def _tenant_keys(table: str) -> list[Any]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=f"fk_{table}_tenant_id", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=f"pk_{table}"),
    ]


def _enable_rls(table: str) -> None:
    match = f"tenant_id = {CURRENT_TENANT}"
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {table}_select ON {table} FOR SELECT USING ({match})")
    op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({match})")
    op.execute(
        f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({match}) WITH CHECK ({match})"
    )
    op.execute(f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({match})")


def _money(name: str) -> sa.Column[Any]:
    return sa.Column(name, MONEY, nullable=False, server_default=ZERO)


def upgrade() -> None:
    with op.batch_alter_table("tenant") as batch:
        batch.add_column(
            sa.Column("currency", sa.String(length=3), nullable=False, server_default="USD")
        )
        batch.add_column(
            sa.Column("locale", sa.String(length=16), nullable=False, server_default="en_US")
        )
        batch.add_column(
            sa.Column("quote_valid_days", sa.Integer(), nullable=False, server_default="30")
        )
        batch.add_column(
            sa.Column("quote_terms", sa.String(length=4000), nullable=False, server_default="")
        )

    op.create_table(
        "taxclass",
        *_tenant_keys("taxclass"),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("rate", RATE, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_taxclass_name"),
    )
    op.create_table(
        "treatmentpackage",
        *_tenant_keys("treatmentpackage"),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("tax_class_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "tax_class_id"],
            ["taxclass.tenant_id", "taxclass.id"],
            name="fk_treatmentpackage_tax",
        ),
        sa.UniqueConstraint("tenant_id", "name", name="uq_treatmentpackage_name"),
    )
    with op.batch_alter_table("treatmentitem") as batch:
        batch.add_column(
            sa.Column("category", sa.String(length=80), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("unit_label", sa.String(length=40), nullable=False, server_default="session")
        )
        batch.add_column(
            sa.Column("price_from", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("tax_class_id", sa.Uuid(), nullable=True))
        batch.create_foreign_key(
            "fk_treatmentitem_tax",
            "taxclass",
            ["tenant_id", "tax_class_id"],
            ["tenant_id", "id"],
        )
        batch.create_unique_constraint("uq_treatmentitem_name", ["tenant_id", "name"])
    op.create_table(
        "packageitem",
        *_tenant_keys("packageitem"),
        sa.Column("package_id", sa.Uuid(), nullable=False),
        sa.Column("treatment_item_id", sa.Uuid(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "package_id"],
            ["treatmentpackage.tenant_id", "treatmentpackage.id"],
            name="fk_packageitem_package",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "treatment_item_id"],
            ["treatmentitem.tenant_id", "treatmentitem.id"],
            name="fk_packageitem_item",
        ),
    )
    op.create_index("ix_packageitem_package", "packageitem", ["tenant_id", "package_id"])

    with op.batch_alter_table("quote") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("locale", sa.String(length=16), nullable=False, server_default="en_US")
        )
        for kind in ("discount", "deposit"):
            batch.add_column(
                sa.Column(f"{kind}_kind", sa.String(length=8), nullable=False, server_default="")
            )
            batch.add_column(_money(f"{kind}_value"))
        for amount in ("subtotal", "discount_total", "tax_total", "deposit"):
            batch.add_column(_money(amount))
        batch.add_column(
            sa.Column("terms", sa.String(length=4000), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("form", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(sa.Column("sent_by_id", sa.Uuid(), nullable=True))
        for moment in ("updated_at", "viewed_at", "closed_at"):
            batch.add_column(sa.Column(moment, sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("accepted_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("accepted_ip", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("accepted_user_agent", sa.String(length=400), nullable=True))
        batch.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("decline_reason", sa.String(length=1000), nullable=True))
        batch.create_foreign_key("fk_quote_sent_by_id", "user_account", ["sent_by_id"], ["id"])
        batch.create_unique_constraint(
            "uq_quote_version", ["tenant_id", "submission_id", "version"]
        )
    op.create_index("ix_quote_open", "quote", ["tenant_id", "status", "valid_until"])

    with op.batch_alter_table("quoteline") as batch:
        batch.add_column(sa.Column("package_id", sa.Uuid(), nullable=True))
        batch.add_column(
            sa.Column("unit_label", sa.String(length=40), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("discount_kind", sa.String(length=8), nullable=False, server_default="")
        )
        batch.add_column(_money("discount_value"))
        batch.add_column(
            sa.Column("tax_name", sa.String(length=80), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("tax_rate", RATE, nullable=False, server_default=ZERO))
        for amount in ("gross", "line_discount", "net", "tax", "line_total"):
            batch.add_column(_money(amount))
        batch.create_foreign_key(
            "fk_quoteline_package",
            "treatmentpackage",
            ["tenant_id", "package_id"],
            ["tenant_id", "id"],
        )
    op.create_index("ix_quoteline_quote", "quoteline", ["tenant_id", "quote_id", "position"])

    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_TABLES:
            _enable_rls(table)


def downgrade() -> None:
    op.drop_index("ix_quoteline_quote", table_name="quoteline")
    with op.batch_alter_table("quoteline") as batch:
        batch.drop_constraint("fk_quoteline_package", type_="foreignkey")
        for column in (
            "line_total",
            "tax",
            "net",
            "line_discount",
            "gross",
            "tax_rate",
            "tax_name",
            "discount_value",
            "discount_kind",
            "unit_label",
            "package_id",
        ):
            batch.drop_column(column)
    op.drop_index("ix_quote_open", table_name="quote")
    with op.batch_alter_table("quote") as batch:
        batch.drop_constraint("uq_quote_version", type_="unique")
        batch.drop_constraint("fk_quote_sent_by_id", type_="foreignkey")
        for column in (
            "decline_reason",
            "content_sha256",
            "accepted_user_agent",
            "accepted_ip",
            "accepted_name",
            "closed_at",
            "viewed_at",
            "updated_at",
            "sent_by_id",
            "form",
            "terms",
            "deposit",
            "tax_total",
            "discount_total",
            "subtotal",
            "deposit_value",
            "deposit_kind",
            "discount_value",
            "discount_kind",
            "locale",
            "version",
        ):
            batch.drop_column(column)
    op.drop_index("ix_packageitem_package", table_name="packageitem")
    op.drop_table("packageitem")
    with op.batch_alter_table("treatmentitem") as batch:
        batch.drop_constraint("uq_treatmentitem_name", type_="unique")
        batch.drop_constraint("fk_treatmentitem_tax", type_="foreignkey")
        for column in ("tax_class_id", "price_from", "unit_label", "category"):
            batch.drop_column(column)
    op.drop_table("treatmentpackage")
    op.drop_table("taxclass")
    with op.batch_alter_table("tenant") as batch:
        for column in ("quote_terms", "quote_valid_days", "locale", "currency"):
            batch.drop_column(column)
