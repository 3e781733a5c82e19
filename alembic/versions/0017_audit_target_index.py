"""One record's audit events without reading the clinic's whole chain.

The case page reads the case's events for its timeline (``chain`` = the clinic, ``target_id`` =
the case, in ``seq`` order). The only index starting with ``chain`` was ``(chain, seq)``, so
every opening of a case read every event of its clinic and kept the few about that case: a cost
that grew with the clinic's whole history (1,005 rows read for 24 kept in a load-test clinic
after a few minutes). ``(chain, target_id, seq)`` serves that read in order, and the erasure of
a case's or patient's details and the audit page's filter by record.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_target", "auditevent", ["chain", "target_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_target", table_name="auditevent")
