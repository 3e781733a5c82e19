"""Retention: legal holds on a case or a patient, sweep runs and their per-case items.

``retentionrun`` (one sweep of one clinic, with its proof) and ``retentionitem`` (one case's
due categories carried through the purge's steps) are tenant-owned and get the same forced
row-level security as every other tenant table. ``legalhold`` may now hold a whole patient
(exactly one of case and patient), end on a date and record who released it and why. A case
records the categories retention has cleared and when it became a de-identified record; a
patient records when it became an anonymous tombstone. The audit log gains the columns of its
erasable personal details (revision 0012 moves existing chains to them).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "current_setting('app.tenant_id')::uuid"
NEW_TABLES = ("retentionrun", "retentionitem")
UTC = sa.DateTime(timezone=True)


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


def upgrade() -> None:
    with op.batch_alter_table("legalhold") as batch:
        batch.alter_column("submission_id", existing_type=sa.Uuid(), nullable=True)
        batch.add_column(sa.Column("patient_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("ends_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("released_by_id", sa.Uuid(), nullable=True))
        batch.add_column(
            sa.Column("release_reason", sa.String(length=1000), nullable=False, server_default="")
        )
        batch.create_foreign_key(
            "fk_hold_patient", "patient", ["tenant_id", "patient_id"], ["tenant_id", "id"]
        )
        batch.create_foreign_key(
            "fk_legalhold_released_by_id", "user_account", ["released_by_id"], ["id"]
        )
        batch.create_check_constraint(
            "ck_legalhold_one_target", "(submission_id IS NULL) <> (patient_id IS NULL)"
        )
    op.create_index("ix_legalhold_submission", "legalhold", ["tenant_id", "submission_id"])
    op.create_index("ix_legalhold_patient", "legalhold", ["tenant_id", "patient_id"])

    with op.batch_alter_table("submission") as batch:
        batch.add_column(
            sa.Column("retention_cleared", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(sa.Column("retention_cleared_at", UTC, nullable=True))
        batch.add_column(sa.Column("deidentified_at", UTC, nullable=True))
    op.create_index("ix_submission_patient", "submission", ["tenant_id", "patient_id"])
    op.create_index("ix_messageattachment_image", "messageattachment", ["tenant_id", "image_id"])
    with op.batch_alter_table("patient") as batch:
        batch.add_column(sa.Column("anonymized_at", UTC, nullable=True))
    with op.batch_alter_table("auditevent") as batch:
        batch.add_column(sa.Column("personal_key", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("personal_digest", sa.String(length=64), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("erased_at", UTC, nullable=True))

    op.create_table(
        "retentionrun",
        *_tenant_keys("retentionrun"),
        sa.Column("started_at", UTC, nullable=False),
        sa.Column("finished_at", UTC, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_by_id", sa.Uuid(), nullable=True),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("purged", sa.Integer(), nullable=False),
        sa.Column("deidentified", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("proof", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["started_by_id"], ["user_account.id"], name="fk_retentionrun_started_by_id"
        ),
    )
    op.create_index("ix_retentionrun_started", "retentionrun", ["tenant_id", "started_at"])
    op.create_table(
        "retentionitem",
        *_tenant_keys("retentionitem"),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("submission_id", sa.Uuid(), nullable=False),
        sa.Column("subject_sha256", sa.String(length=64), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("patient_categories", sa.JSON(), nullable=False),
        sa.Column("object_keys", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=False),
        sa.Column("planned_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("proved_at", UTC, nullable=True),
    )
    op.create_index("ix_retentionitem_state", "retentionitem", ["tenant_id", "state", "id"])
    op.create_index("ix_retentionitem_submission", "retentionitem", ["tenant_id", "submission_id"])
    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_TABLES:
            _enable_rls(table)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_TABLES:
            for command in ("select", "insert", "update", "delete"):
                op.execute(f"DROP POLICY IF EXISTS {table}_{command} ON {table}")
    op.drop_index("ix_retentionitem_submission", table_name="retentionitem")
    op.drop_index("ix_retentionitem_state", table_name="retentionitem")
    op.drop_table("retentionitem")
    op.drop_index("ix_retentionrun_started", table_name="retentionrun")
    op.drop_table("retentionrun")
    with op.batch_alter_table("auditevent") as batch:
        batch.drop_column("erased_at")
        batch.drop_column("personal_digest")
        batch.drop_column("personal_key")
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("anonymized_at")
    op.drop_index("ix_messageattachment_image", table_name="messageattachment")
    op.drop_index("ix_submission_patient", table_name="submission")
    with op.batch_alter_table("submission") as batch:
        batch.drop_column("deidentified_at")
        batch.drop_column("retention_cleared_at")
        batch.drop_column("retention_cleared")
    op.drop_index("ix_legalhold_patient", table_name="legalhold")
    op.drop_index("ix_legalhold_submission", table_name="legalhold")
    # Holds on a whole patient have no place in the older schema.
    op.execute("DELETE FROM legalhold WHERE submission_id IS NULL")
    with op.batch_alter_table("legalhold") as batch:
        batch.drop_constraint("ck_legalhold_one_target", type_="check")
        batch.drop_constraint("fk_legalhold_released_by_id", type_="foreignkey")
        batch.drop_constraint("fk_hold_patient", type_="foreignkey")
        batch.drop_column("release_reason")
        batch.drop_column("released_by_id")
        batch.drop_column("ends_on")
        batch.drop_column("patient_id")
        batch.alter_column("submission_id", existing_type=sa.Uuid(), nullable=False)
