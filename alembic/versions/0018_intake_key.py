"""One case per clinic for one sending of the public form.

A worker can die after the intake's commit and before the patient's tab hears the answer: the
patient is then told nothing went through and sends the form again, which made a second case of
the same photos. The tab now holds a random key for one sending; each case stores its SHA-256,
unique within the clinic, and a form re-sent with the same key is answered with the stored
case's receipt. Existing cases have none (NULL, outside the unique index).

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "submission",
        sa.Column("intake_key", sa.String(length=64), nullable=True),
    )
    op.create_index(
        "ux_submission_intake_key",
        "submission",
        ["tenant_id", "intake_key"],
        unique=True,
        postgresql_where=sa.text("intake_key IS NOT NULL"),
        sqlite_where=sa.text("intake_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_submission_intake_key", table_name="submission")
    op.drop_column("submission", "intake_key")
