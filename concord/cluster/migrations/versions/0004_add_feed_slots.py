"""add the feed_slots table of per-example answer and lease counters

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OPEN = "free > 0"

# The overlap of each example, as concord.cluster.slots computes it: full
# overlap never fills, partial overlap gives the feed's overlap to the
# examples whose bucket is below the threshold and one annotator to the rest.
# The threshold is rounded in Python, as the application rounds it: SQLite's
# ROUND and Python's round() differ on halves.
BACKFILL = """
INSERT INTO feed_slots
    (feed_id, example_id, position, task_hash, needed, answers, leases, free)
SELECT f.id, e.id, e.position, e.task_hash,
    CASE
        WHEN f.overlap_mode = 'full' THEN 1000000000
        WHEN f.overlap_mode = 'partial' THEN
            CASE WHEN ((e.task_hash % 2147483647 + 2147483647) % 2147483647)
                      * 48271 % 2147483647 % 10000 < :threshold
                 THEN f.overlap ELSE 1 END
        ELSE f.overlap
    END,
    (SELECT COUNT(*) FROM annotations a WHERE a.feed_id = f.id AND a.example_id = e.id),
    (SELECT COUNT(*) FROM leases l WHERE l.feed_id = f.id AND l.example_id = e.id),
    0
FROM feeds f JOIN examples e ON e.dataset_id = f.dataset_id
WHERE f.id = :feed_id
"""

FREE = "UPDATE feed_slots SET free = needed - answers - leases"


def upgrade() -> None:
    op.create_table(
        "feed_slots",
        sa.Column("feed_id", sa.String(length=32), nullable=False),
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("task_hash", sa.BigInteger(), nullable=False),
        sa.Column("needed", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("leases", sa.Integer(), nullable=False),
        sa.Column("free", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["example_id"], ["examples.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["feed_id"], ["feeds.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("feed_id", "example_id"),
    )
    op.create_index(
        "ix_feed_slots_open",
        "feed_slots",
        ["feed_id", "position"],
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    op.create_index("ix_feed_slots_example", "feed_slots", ["example_id"])
    connection = op.get_bind()
    feeds = connection.execute(sa.text("SELECT id, partial_fraction FROM feeds")).all()
    for feed_id, fraction in feeds:
        connection.execute(
            sa.text(BACKFILL),
            {"feed_id": feed_id, "threshold": round((fraction or 0.0) * 10_000)},
        )
    op.execute(FREE)


def downgrade() -> None:
    op.drop_index("ix_feed_slots_example", table_name="feed_slots")
    op.drop_index("ix_feed_slots_open", table_name="feed_slots")
    op.drop_table("feed_slots")
