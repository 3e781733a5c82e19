"""Consents record a hash of the exact text shown beside its version.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before this revision keep an empty hash: the text they were shown is unknown.
    with op.batch_alter_table("consentrecord") as batch:
        batch.add_column(
            sa.Column("text_sha256", sa.String(length=64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("consentrecord") as batch:
        batch.drop_column("text_sha256")
