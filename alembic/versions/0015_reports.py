"""The clinic dashboard: where a case came from, when it was first reviewed, date-range indexes.

* ``submission.source``: which form the case came through, "clinic_page" (the clinic's own
  form) or "directory" (the multi-clinic form). Existing cases take it from the source of
  their patient's privacy acknowledgement, recorded by the same intake ("directory", or
  "clinic_page:<slug>" and anything else for the clinic's own page).
* ``submission.reviewed_at``: when the case first left "new". Existing cases that left it get
  their first reply, their first quote or their last activity, whichever is known first in
  that order; a case archived straight from "new" (never answered, never quoted) keeps NULL.
* ``ix_message_created``, ``ix_outbox_created``: the dashboard's message volume and delivery
  figures read one clinic's rows over a date range. Case figures use ``ix_submission_received``.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime(timezone=True)

# A case came through the multi-clinic form when its patient's privacy acknowledgement did
# (intake writes one patient per case, so the acknowledgement is the case's own).
_FILL_SOURCE = """
UPDATE submission SET source = 'directory'
WHERE EXISTS (
    SELECT 1 FROM consentrecord
    WHERE consentrecord.tenant_id = submission.tenant_id
        AND consentrecord.patient_id = submission.patient_id
        AND consentrecord.kind = 'privacy_ack' AND consentrecord.source = 'directory'
)
"""

# A case that left "new" was reviewed by its first reply, its first quote, or at the latest
# by its last activity. Archived without a reply or a quote: archived straight from "new".
_FILL_REVIEWED = """
UPDATE submission SET reviewed_at = COALESCE(first_response_at, quote_sent_at, last_activity_at)
WHERE status <> 'new'
    AND NOT (status = 'archived' AND quote_sent_at IS NULL AND first_response_at IS NULL)
"""


# The backfills read and write every clinic's rows at once.
_BACKFILLED = ("submission", "consentrecord")


def _rls_forced(on: bool) -> None:
    # The owner runs the migrations; forced row-level security would hide the rows from an
    # owner that is not a superuser (the policies need app.tenant_id, which no one set here).
    for table in _BACKFILLED:
        op.execute(f"ALTER TABLE {table} {'' if on else 'NO '}FORCE ROW LEVEL SECURITY")


def upgrade() -> None:
    with op.batch_alter_table("submission") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="clinic_page")
        )
        batch.add_column(sa.Column("reviewed_at", UTC, nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        _rls_forced(False)
    op.execute(_FILL_SOURCE)
    op.execute(_FILL_REVIEWED)
    if postgres:
        _rls_forced(True)
    op.create_index("ix_message_created", "message", ["tenant_id", "created_at"])
    op.create_index("ix_outbox_created", "outboxmessage", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_created", table_name="outboxmessage")
    op.drop_index("ix_message_created", table_name="message")
    op.drop_column("submission", "reviewed_at")
    op.drop_column("submission", "source")
