"""Messaging: per-user read markers, attachments, templates, notice preferences, outbox delivery.

The four new tables are tenant-owned and get the same forced row-level security as every other
(revision 0002). ``message`` gains its channel and an external id (inbound deduplication);
``outboxmessage`` gains what the worker needs to deliver exactly once: a Message-ID per row, a
claim with a lease, the provider's reference and the delivery time.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "current_setting('app.tenant_id')::uuid"
NEW_TABLES = ("threadread", "messageattachment", "messagetemplate", "notificationpreference")


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
    with op.batch_alter_table("messagethread") as batch:
        batch.add_column(sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_direction", sa.String(length=16), nullable=True))
    # One conversation per case (nothing created threads before this revision).
    op.drop_index("ix_messagethread_submission", table_name="messagethread")
    op.create_index(
        "ix_messagethread_submission",
        "messagethread",
        ["tenant_id", "submission_id"],
        unique=True,
    )
    op.create_index("ix_messagethread_last", "messagethread", ["tenant_id", "last_message_at"])
    op.create_index("ix_messagethread_link", "messagethread", ["tenant_id", "patient_link_hash"])

    with op.batch_alter_table("message") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="email")
        )
        batch.add_column(sa.Column("template_id", sa.Uuid(), nullable=True))
        batch.add_column(
            sa.Column("subject", sa.String(length=200), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("external_id", sa.String(length=300), nullable=True))
        batch.create_unique_constraint("uq_message_external", ["tenant_id", "external_id"])

    with op.batch_alter_table("outboxmessage") as batch:
        batch.add_column(
            sa.Column(
                "kind", sa.String(length=32), nullable=False, server_default="patient_message"
            )
        )
        batch.add_column(sa.Column("html_body", sa.String(), nullable=True))
        # Rows from before this revision get a Message-ID made from their own id.
        batch.add_column(sa.Column("header_id", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("reply_to", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("claimed_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("provider_ref", sa.String(length=200), nullable=True))
    op.execute(
        "UPDATE outboxmessage SET header_id = '<' || CAST(id AS VARCHAR(64)) || '@mi-portal>'"
        " WHERE header_id IS NULL"
    )
    with op.batch_alter_table("outboxmessage") as batch:
        batch.alter_column("header_id", existing_type=sa.String(length=200), nullable=False)
        batch.create_unique_constraint("uq_outbox_header_id", ["tenant_id", "header_id"])
    op.create_index("ix_outbox_due", "outboxmessage", ["tenant_id", "status", "next_attempt_at"])
    op.create_index("ix_outbox_message", "outboxmessage", ["tenant_id", "message_id"])

    op.create_index(
        "ix_consentrecord_ledger",
        "consentrecord",
        ["tenant_id", "patient_id", "kind", "recorded_at"],
    )

    op.create_table(
        "threadread",
        *_tenant_keys("threadread"),
        sa.Column("thread_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("read_until", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "thread_id"],
            ["messagethread.tenant_id", "messagethread.id"],
            name="fk_threadread_thread",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"], name="fk_threadread_user_id"),
        sa.UniqueConstraint("tenant_id", "thread_id", "user_id", name="uq_threadread_user"),
    )
    op.create_index("ix_threadread_user", "threadread", ["tenant_id", "user_id"])

    op.create_table(
        "messageattachment",
        *_tenant_keys("messageattachment"),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("byte_size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "message_id"],
            ["message.tenant_id", "message.id"],
            name="fk_attachment_message",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_messageattachment_message", "messageattachment", ["tenant_id", "message_id"]
    )

    op.create_table(
        "messagetemplate",
        *_tenant_keys("messagetemplate"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=5000), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name="fk_messagetemplate_updated_by_id",
        ),
        sa.UniqueConstraint("tenant_id", "name", name="uq_messagetemplate_name"),
    )

    op.create_table(
        "notificationpreference",
        *_tenant_keys("notificationpreference"),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name="fk_notificationpreference_user_id"
        ),
        sa.UniqueConstraint("tenant_id", "user_id", "kind", name="uq_notificationpreference"),
    )

    if op.get_bind().dialect.name == "postgresql":
        for table in NEW_TABLES:
            _enable_rls(table)


def downgrade() -> None:
    # Dropping a table drops its policies with it.
    op.drop_table("notificationpreference")
    op.drop_table("messagetemplate")
    op.drop_index("ix_messageattachment_message", table_name="messageattachment")
    op.drop_table("messageattachment")
    op.drop_index("ix_threadread_user", table_name="threadread")
    op.drop_table("threadread")
    op.drop_index("ix_consentrecord_ledger", table_name="consentrecord")
    op.drop_index("ix_outbox_message", table_name="outboxmessage")
    op.drop_index("ix_outbox_due", table_name="outboxmessage")
    with op.batch_alter_table("outboxmessage") as batch:
        batch.drop_constraint("uq_outbox_header_id", type_="unique")
        for column in (
            "provider_ref",
            "delivered_at",
            "claimed_until",
            "claimed_by",
            "reply_to",
            "header_id",
            "html_body",
            "kind",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("message") as batch:
        batch.drop_constraint("uq_message_external", type_="unique")
        for column in ("external_id", "subject", "template_id", "channel"):
            batch.drop_column(column)
    op.drop_index("ix_messagethread_link", table_name="messagethread")
    op.drop_index("ix_messagethread_last", table_name="messagethread")
    op.drop_index("ix_messagethread_submission", table_name="messagethread")
    op.create_index("ix_messagethread_submission", "messagethread", ["tenant_id", "submission_id"])
    with op.batch_alter_table("messagethread") as batch:
        batch.drop_column("last_direction")
        batch.drop_column("last_message_at")
