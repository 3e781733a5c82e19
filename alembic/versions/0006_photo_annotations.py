"""Annotations on photos: markers in normalised coordinates, tenant-owned, under row-level security.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "current_setting('app.tenant_id')::uuid"


def upgrade() -> None:
    op.create_table(
        "annotation",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("image_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_annotation_author_id")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "image_id"],
            ["submissionimage.tenant_id", "submissionimage.id"],
            name="fk_annotation_image",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_annotation_tenant_id"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_annotation")),
    )
    op.create_index("ix_annotation_image", "annotation", ["tenant_id", "image_id"])
    if op.get_bind().dialect.name == "postgresql":
        # The same forced policies as revision 0002 gives every tenant-owned table.
        match = f"tenant_id = {CURRENT_TENANT}"
        op.execute("ALTER TABLE annotation ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE annotation FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY annotation_select ON annotation FOR SELECT USING ({match})")
        op.execute(f"CREATE POLICY annotation_insert ON annotation FOR INSERT WITH CHECK ({match})")
        op.execute(
            "CREATE POLICY annotation_update ON annotation FOR UPDATE "
            f"USING ({match}) WITH CHECK ({match})"
        )
        op.execute(f"CREATE POLICY annotation_delete ON annotation FOR DELETE USING ({match})")


def downgrade() -> None:
    # Dropping the table drops its policies with it.
    op.drop_index("ix_annotation_image", table_name="annotation")
    op.drop_table("annotation")
