"""add routing settings to feeds and the skips table

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Server defaults give feeds created before this revision the old behaviour:
    # a fixed overlap, source order, no quota.
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("overlap_mode", sa.String(16), nullable=False, server_default="number")
        )
        batch_op.add_column(
            sa.Column("partial_fraction", sa.Float(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("task_order", sa.String(16), nullable=False, server_default="source")
        )
        batch_op.add_column(
            sa.Column("seed", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("quota", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "exclude_seen_in_other_feeds",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
    op.create_table(
        "skips",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("feed_id", sa.String(length=32), nullable=False),
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("annotator_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["example_id"], ["examples.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("feed_id", "example_id", "annotator_id"),
    )


def downgrade() -> None:
    op.drop_table("skips")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("exclude_seen_in_other_feeds")
        batch_op.drop_column("quota")
        batch_op.drop_column("seed")
        batch_op.drop_column("task_order")
        batch_op.drop_column("partial_fraction")
        batch_op.drop_column("overlap_mode")
