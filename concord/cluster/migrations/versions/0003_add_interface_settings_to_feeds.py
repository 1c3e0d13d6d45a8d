"""add interface settings to feeds

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("field_label", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("max_length", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("source_feed_id", sa.String(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reviewed_interface", sa.String(length=32), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_feeds_source_feed_id_feeds", "feeds", ["source_feed_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_constraint("fk_feeds_source_feed_id_feeds", type_="foreignkey")
        batch_op.drop_column("reviewed_interface")
        batch_op.drop_column("source_feed_id")
        batch_op.drop_column("max_length")
        batch_op.drop_column("field_label")
