"""Indexes for the case queue: every one leads with tenant_id, as every query does.

The first inbox page (one clinic, one status, sorted by SLA due, 50 rows) walks
ix_submission_queue in order and stops after 50 entries, so its cost does not grow with the
number of clinics or cases (bench/inbox.py measures this). Child lookups per page (photos,
threads, messages, quotes, notes) use (tenant_id, parent id) indexes. Patient email lookups are
per clinic, so ix_patient_email becomes (tenant_id, email).

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_submission_queue", "submission", ["tenant_id", "status", "sla_due_at", "id"]),
    ("ix_submission_received", "submission", ["tenant_id", "received_at"]),
    ("ix_submission_activity", "submission", ["tenant_id", "last_activity_at"]),
    ("ix_submission_assignee", "submission", ["tenant_id", "assignee_id"]),
    ("ix_patient_tenant_email", "patient", ["tenant_id", "email"]),
    ("ix_submissionimage_submission", "submissionimage", ["tenant_id", "submission_id"]),
    ("ix_casenote_submission", "casenote", ["tenant_id", "submission_id"]),
    ("ix_messagethread_submission", "messagethread", ["tenant_id", "submission_id"]),
    ("ix_message_thread", "message", ["tenant_id", "thread_id"]),
    ("ix_quote_submission", "quote", ["tenant_id", "submission_id"]),
)


def upgrade() -> None:
    op.drop_index("ix_submission_tenant_status", table_name="submission")
    op.drop_index("ix_patient_email", table_name="patient")
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.create_index("ix_patient_email", "patient", ["email"])
    op.create_index("ix_submission_tenant_status", "submission", ["tenant_id", "status"])
