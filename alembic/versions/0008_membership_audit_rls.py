"""Row-level security on the two remaining tables with a tenant_id: membership and auditevent.

Both are reached from platform-level services as well as from a clinic, so each has narrow extra
policies beside "the clinic in scope" (DESIGN.md):

* membership: a signed-in user reads their own memberships (``app.user_id``, set by sign-in and
  session resolve only); every write needs the clinic in scope, so no setting moves a member into
  another clinic or edits one there.
* auditevent: rows of the clinic in scope; the platform chain (tenant_id NULL, chain 'platform')
  only under ``app.platform = 'on'``. Insert and select only: there is no UPDATE or DELETE policy,
  so even a role granted those commands changes nothing. An insert must land in the chain of the
  clinic it names, so one clinic cannot append to another's chain.

Unlike 0002 these read the settings with missing_ok and NULLIF(…, ''), because either of two
settings may apply; an unset or emptied setting is NULL, and NULL matches no row, so a session
with no setting sees nothing and may write nothing (closed, never open).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
USER = "nullif(current_setting('app.user_id', true), '')::uuid"
PLATFORM = "coalesce(current_setting('app.platform', true), '') = 'on'"

IN_CLINIC = f"tenant_id = {TENANT}"
OWN = f"user_id = {USER}"
PLATFORM_CHAIN = f"(tenant_id IS NULL AND chain = 'platform' AND {PLATFORM})"
CLINIC_CHAIN = f"({IN_CLINIC} AND chain = tenant_id::text)"

POLICIES = {
    "membership": (
        ("select", f"FOR SELECT USING ({IN_CLINIC} OR {OWN})"),
        ("insert", f"FOR INSERT WITH CHECK ({IN_CLINIC})"),
        ("update", f"FOR UPDATE USING ({IN_CLINIC}) WITH CHECK ({IN_CLINIC})"),
        ("delete", f"FOR DELETE USING ({IN_CLINIC})"),
    ),
    "auditevent": (
        ("select", f"FOR SELECT USING ({IN_CLINIC} OR {PLATFORM_CHAIN})"),
        ("insert", f"FOR INSERT WITH CHECK ({CLINIC_CHAIN} OR {PLATFORM_CHAIN})"),
    ),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, policies in POLICIES.items():
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        for command, body in policies:
            op.execute(f"CREATE POLICY {table}_{command} ON {table} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, policies in POLICIES.items():
        for command, _body in policies:
            op.execute(f"DROP POLICY IF EXISTS {table}_{command} ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
