"""Privacy-rights requests: verification, deadlines, forwarding, the locator, the platform outbox.

* ``rightsrequest`` (platform) gains a reference, the agent and their authorisation, the
  jurisdiction and its regime, the one-time code (a keyed digest, its expiry and tries), the
  deadlines, the matched clinics (ids only) with each one's answer, and the outcome.
* ``rightsrequeststep`` (platform): the request's timeline.
* ``rightsrequestforward`` (tenant, forced row-level security since 0002) gains the clinic's own
  copy of the request and its answer: the result, the access package and its single-use link.
* ``patientlocator``: keyed digests of patients' emails and phones per clinic. It has a
  tenant_id, so forced row-level security: a clinic reads and writes its own rows; the platform
  flag may only read (the rights-request lookup, which returns clinic ids).
* ``platformoutbox``: deliveries the platform itself sends, outside any clinic.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)
TENANT = "nullif(current_setting('app.tenant_id', true), '')::uuid"
PLATFORM = "coalesce(current_setting('app.platform', true), '') = 'on'"
IN_CLINIC = f"tenant_id = {TENANT}"
LOCATOR_POLICIES = (
    ("select", f"FOR SELECT USING ({IN_CLINIC} OR {PLATFORM})"),
    ("insert", f"FOR INSERT WITH CHECK ({IN_CLINIC})"),
    ("update", f"FOR UPDATE USING ({IN_CLINIC}) WITH CHECK ({IN_CLINIC})"),
    ("delete", f"FOR DELETE USING ({IN_CLINIC})"),
)


def _request_columns() -> tuple[sa.Column, ...]:  # type: ignore[type-arg]
    return (
        sa.Column("reference", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("by_agent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("agent_name", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("agent_email", sa.String(length=254), nullable=False, server_default=""),
        sa.Column("authorisation_key", sa.String(length=300), nullable=True),
        sa.Column("authorisation_type", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("jurisdiction", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("regime", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("code_digest", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", UTC, nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("codes_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("acknowledge_by", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("extended_at", UTC, nullable=True),
        sa.Column("extension_reason", sa.String(length=1000), nullable=False, server_default=""),
        sa.Column("matched_clinics", sa.JSON(), nullable=False, server_default="[]"),
        sa.Column("clinic_status", sa.JSON(), nullable=False, server_default="{}"),
        sa.Column("outcome", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("outcome_note", sa.String(length=4000), nullable=False, server_default=""),
    )


def _forward_columns() -> tuple[sa.Column, ...]:  # type: ignore[type-arg]
    return (
        sa.Column("reference", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("kind", sa.String(length=16), nullable=False, server_default=""),
        sa.Column("requester_name", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("requester_email", sa.String(length=254), nullable=False, server_default=""),
        sa.Column("requester_phone", sa.String(length=32), nullable=True),
        sa.Column("details", sa.String(length=4000), nullable=False, server_default=""),
        sa.Column("by_agent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("agent_name", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("agent_email", sa.String(length=254), nullable=False, server_default=""),
        sa.Column("jurisdiction", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("received_at", UTC, nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("started_at", UTC, nullable=True),
        sa.Column("started_by_id", sa.Uuid(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False, server_default="{}"),
        sa.Column("package_key", sa.String(length=300), nullable=True),
        sa.Column("package_sha256", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("link_digest", sa.String(length=64), nullable=True),
        sa.Column("link_expires_at", UTC, nullable=True),
        sa.Column("link_used_at", UTC, nullable=True),
        sa.Column("responded_by_id", sa.Uuid(), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("rightsrequest") as batch:
        for column in _request_columns():
            batch.add_column(column)
        batch.create_unique_constraint("uq_rightsrequest_reference", ["reference"])
        batch.create_index("ix_rightsrequest_status", ["status", "received_at"])
    # Requests from before this revision (none were ever written by the app) get a reference.
    op.execute(
        "UPDATE rightsrequest SET reference = 'RR-' || substr(CAST(id AS VARCHAR(64)), 1, 8)"
        " WHERE reference = ''"
    )
    op.execute("UPDATE rightsrequest SET status = 'pending' WHERE status = 'received'")

    with op.batch_alter_table("rightsrequestforward") as batch:
        for column in _forward_columns():
            batch.add_column(column)
        batch.create_foreign_key(
            "fk_rightsrequestforward_started_by_id", "user_account", ["started_by_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_rightsrequestforward_responded_by_id", "user_account", ["responded_by_id"], ["id"]
        )
        batch.create_unique_constraint("uq_forward_request", ["tenant_id", "rights_request_id"])
    op.execute("UPDATE rightsrequestforward SET status = 'forwarded' WHERE status = 'sent'")

    op.create_table(
        "rightsrequeststep",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("at", UTC, nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["rightsrequest.id"], name="fk_rightsrequeststep_request_id"
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name="fk_rightsrequeststep_actor_id"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_rightsrequeststep"),
    )
    op.create_index("ix_rightsrequeststep_request", "rightsrequeststep", ["request_id", "at"])

    op.create_table(
        "patientlocator",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name="fk_patientlocator_tenant_id", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_patientlocator"),
        sa.UniqueConstraint("tenant_id", "patient_id", "kind", name="uq_patientlocator_kind"),
    )
    op.create_index("ix_patientlocator_digest", "patientlocator", ["digest"])
    op.create_index("ix_patientlocator_patient", "patientlocator", ["tenant_id", "patient_id"])

    op.create_table(
        "platformoutbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=10000), nullable=False),
        sa.Column("html_body", sa.String(), nullable=True),
        sa.Column("header_id", sa.String(length=200), nullable=False),
        sa.Column("reply_to", sa.String(length=300), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC, nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", UTC, nullable=True),
        sa.Column("sent_at", UTC, nullable=True),
        sa.Column("delivered_at", UTC, nullable=True),
        sa.Column("provider_ref", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_platformoutbox"),
        sa.UniqueConstraint("header_id", name="uq_platformoutbox_header_id"),
    )
    op.create_index("ix_platformoutbox_due", "platformoutbox", ["status", "next_attempt_at"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE patientlocator ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE patientlocator FORCE ROW LEVEL SECURITY")
        for command, body in LOCATOR_POLICIES:
            op.execute(f"CREATE POLICY patientlocator_{command} ON patientlocator {body}")


def downgrade() -> None:
    op.drop_index("ix_platformoutbox_due", table_name="platformoutbox")
    op.drop_table("platformoutbox")
    op.drop_index("ix_patientlocator_patient", table_name="patientlocator")
    op.drop_index("ix_patientlocator_digest", table_name="patientlocator")
    op.drop_table("patientlocator")  # its policies go with it
    op.drop_index("ix_rightsrequeststep_request", table_name="rightsrequeststep")
    op.drop_table("rightsrequeststep")
    op.execute("UPDATE rightsrequestforward SET status = 'sent' WHERE status = 'forwarded'")
    with op.batch_alter_table("rightsrequestforward") as batch:
        batch.drop_constraint("uq_forward_request", type_="unique")
        batch.drop_constraint("fk_rightsrequestforward_responded_by_id", type_="foreignkey")
        batch.drop_constraint("fk_rightsrequestforward_started_by_id", type_="foreignkey")
        for column in reversed(_forward_columns()):
            batch.drop_column(column.name)
    op.execute("UPDATE rightsrequest SET status = 'received' WHERE status = 'pending'")
    with op.batch_alter_table("rightsrequest") as batch:
        batch.drop_index("ix_rightsrequest_status")
        batch.drop_constraint("uq_rightsrequest_reference", type_="unique")
        for column in reversed(_request_columns()):
            batch.drop_column(column.name)
