"""Clinics as tenants: life cycle, settings, business hours, intake questions, MFA reset.

* ``tenant`` gains its life-cycle status (active, suspended, off-boarding, closed) with the
  reason and time of the last change, and the settings a clinic owner keeps: time zone,
  jurisdiction, public contact details, patient-page brand colour and logo, the first-response
  SLA target (the quote target already existed), opening hours per weekday and closed days.
  Existing clinics are "active" when ``active`` is set and "closed" (purged) otherwise.
* ``submission`` gains the first-response due time and when the first reply went.
* ``intakequestion`` (tenant, forced row-level security): the clinic's own form questions per
  concern area; retired, never deleted.
* ``user_account`` records when a platform admin last reset the user's second factor.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
CURRENT_TENANT = "current_setting('app.tenant_id')::uuid"


def _tenant_columns() -> tuple[sa.Column, ...]:  # type: ignore[type-arg]
    return (
        sa.Column("status", sa.String(length=16), nullable=False, server_default="active"),
        sa.Column("status_reason", sa.String(length=1000), nullable=False, server_default=""),
        sa.Column("status_changed_at", UTC, nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False, server_default="UTC"),
        sa.Column("jurisdiction", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("contact_email", sa.String(length=254), nullable=False, server_default=""),
        sa.Column("contact_phone", sa.String(length=32), nullable=False, server_default=""),
        sa.Column("address", sa.String(length=500), nullable=False, server_default=""),
        sa.Column("brand_color", sa.String(length=7), nullable=False, server_default=""),
        sa.Column("logo_key", sa.String(length=300), nullable=True),
        sa.Column("first_response_hours", sa.Integer(), nullable=False, server_default="24"),
        sa.Column("business_hours", sa.JSON(), nullable=False, server_default="{}"),
        sa.Column("closed_days", sa.JSON(), nullable=False, server_default="[]"),
    )


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


# Each case's first outbound message is its first reply (a correlated UPDATE, the same on
# SQLite and PostgreSQL; cases never written to keep NULL).
_FILL_FIRST_RESPONSE = """
UPDATE submission SET first_response_at = (
    SELECT MIN(message.created_at) FROM message
    JOIN messagethread ON messagethread.tenant_id = message.tenant_id
        AND messagethread.id = message.thread_id
    WHERE messagethread.tenant_id = submission.tenant_id
        AND messagethread.submission_id = submission.id AND message.direction = 'outbound'
)
WHERE EXISTS (
    SELECT 1 FROM message
    JOIN messagethread ON messagethread.tenant_id = message.tenant_id
        AND messagethread.id = message.thread_id
    WHERE messagethread.tenant_id = submission.tenant_id
        AND messagethread.submission_id = submission.id AND message.direction = 'outbound'
)
"""


def upgrade() -> None:
    with op.batch_alter_table("tenant") as batch:
        for column in _tenant_columns():
            batch.add_column(column)
    op.execute("UPDATE tenant SET status = 'closed' WHERE NOT active")
    with op.batch_alter_table("submission") as batch:
        batch.add_column(sa.Column("first_response_due_at", UTC, nullable=True))
        batch.add_column(sa.Column("first_response_at", UTC, nullable=True))
    # A case the clinic has already written to was answered then: its first outbound message.
    # Without this, recalculating the open cases would give it a first-reply due time.
    op.execute(_FILL_FIRST_RESPONSE)
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("mfa_reset_at", UTC, nullable=True))
    op.create_table(
        "intakequestion",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("concern_area", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("help_text", sa.String(length=300), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("retired_at", UTC, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name="fk_intakequestion_tenant_id", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_intakequestion"),
    )
    op.create_index(
        "ix_intakequestion_area", "intakequestion", ["tenant_id", "concern_area", "position"]
    )
    if op.get_bind().dialect.name == "postgresql":
        _enable_rls("intakequestion")


def downgrade() -> None:
    op.drop_index("ix_intakequestion_area", table_name="intakequestion")
    op.drop_table("intakequestion")
    op.drop_column("user_account", "mfa_reset_at")
    op.drop_column("submission", "first_response_at")
    op.drop_column("submission", "first_response_due_at")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): a batch copy of ``tenant`` would break
    # the foreign keys of every clinic's rows.
    for column in reversed(_tenant_columns()):
        op.drop_column("tenant", column.name)
