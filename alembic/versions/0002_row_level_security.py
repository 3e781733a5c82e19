"""Row-level security on every tenant-owned table (PostgreSQL only).

RLS is enabled and FORCED (so even the owner is subject to it), with one policy per command.
The policies compare against current_setting('app.tenant_id')::uuid without the missing_ok
flag: a transaction that never set a tenant gets an error, and one that set it to '' gets a
cast error, so forgetting the tenant fails closed instead of showing every clinic's rows.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here on purpose: a later revision that adds a tenant-owned table adds its own policies.
TENANT_TABLES = (
    "casenote",
    "consentrecord",
    "imagerendition",
    "legalhold",
    "message",
    "messagethread",
    "outboxmessage",
    "patient",
    "quote",
    "quoteline",
    "retentionpolicy",
    "rightsrequestforward",
    "submission",
    "submissionimage",
    "treatmentitem",
)

CURRENT_TENANT = "current_setting('app.tenant_id')::uuid"


def enable_rls(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    match = f"tenant_id = {CURRENT_TENANT}"
    op.execute(f"CREATE POLICY {table}_select ON {table} FOR SELECT USING ({match})")
    op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({match})")
    op.execute(
        f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({match}) WITH CHECK ({match})"
    )
    op.execute(f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({match})")


def disable_rls(table: str) -> None:
    for command in ("select", "insert", "update", "delete"):
        op.execute(f"DROP POLICY IF EXISTS {table}_{command} ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        enable_rls(table)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        disable_rls(table)
