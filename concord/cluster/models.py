"""The cluster's tables. Example text and full annotations live only here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from concord.common.db import Base


class ClusterBase(Base):
    __abstract__ = True


class ClusterState(ClusterBase):
    """Key-value facts about this cluster: its id, secret and the control plane's key."""

    __tablename__ = "cluster_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Dataset(ClusterBase):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Example(ClusterBase):
    """One question in a dataset, unique by task hash. ``position`` keeps source order."""

    __tablename__ = "examples"
    __table_args__ = (
        UniqueConstraint("dataset_id", "task_hash"),
        Index("ix_examples_dataset_position", "dataset_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)
    input_hash: Mapped[int] = mapped_column(BigInteger)
    task_hash: Mapped[int] = mapped_column(BigInteger)
    task: Mapped[dict[str, Any]] = mapped_column(JSON)


class Feed(ClusterBase):
    __tablename__ = "feeds"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    name: Mapped[str] = mapped_column(String(64))
    interface: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    labels: Mapped[list[str]] = mapped_column(JSON)
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    multiple: Mapped[bool] = mapped_column(Boolean)
    overlap: Mapped[int] = mapped_column(Integer)
    lease_seconds: Mapped[int] = mapped_column(Integer)
    instructions: Mapped[str] = mapped_column(Text)
    # Routing settings, explained in docs/routing.md.
    overlap_mode: Mapped[str] = mapped_column(String(16), default="number")
    partial_fraction: Mapped[float] = mapped_column(Float, default=0.0)
    order: Mapped[str] = mapped_column("task_order", String(16), default="source")
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    quota: Mapped[int | None] = mapped_column(Integer, nullable=True)
    exclude_seen_in_other_feeds: Mapped[bool] = mapped_column(Boolean, default=False)
    # text_input: the answer field's label and its maximum length in code points.
    field_label: Mapped[str | None] = mapped_column(String(200), nullable=True)
    max_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # review: the feed whose answers are reviewed (none means the dataset's
    # imported annotations) and the interface those answers came from.
    source_feed_id: Mapped[str | None] = mapped_column(
        ForeignKey("feeds.id"), nullable=True
    )
    reviewed_interface: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Annotation(ClusterBase):
    """One annotator's answer to one example: from a feed, an import or gold building."""

    __tablename__ = "annotations"
    __table_args__ = (
        # One standing answer per annotator and example in a feed.
        Index(
            "uq_annotations_feed_example_annotator",
            "feed_id",
            "example_id",
            "annotator_id",
            unique=True,
        ),
        UniqueConstraint("feed_id", "answer_id"),
        UniqueConstraint("dataset_id", "import_key"),
        Index("ix_annotations_dataset", "dataset_id"),
        Index("ix_annotations_example", "example_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE")
    )
    example_id: Mapped[int] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE")
    )
    feed_id: Mapped[str | None] = mapped_column(
        ForeignKey("feeds.id"), nullable=True
    )
    annotator_id: Mapped[str] = mapped_column(String(128))
    annotator_name: Mapped[str] = mapped_column(String(128))
    answer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    import_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    answer: Mapped[str] = mapped_column(String(8))
    labels: Mapped[list[str]] = mapped_column(JSON)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Lease(ClusterBase):
    """An example handed to an annotator and not answered yet."""

    __tablename__ = "leases"
    __table_args__ = (
        UniqueConstraint("feed_id", "example_id", "annotator_id"),
        Index("ix_leases_feed_expires", "feed_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed_id: Mapped[str] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    example_id: Mapped[int] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE")
    )
    annotator_id: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# The condition of an open slot row. The partial index below contains exactly
# these rows, and queries must spell the condition the same way for the
# database to use it.
SLOT_OPEN_SQL = "free > 0"


class FeedSlot(ClusterBase):
    """How many more annotators an example needs in a feed, kept up to date.

    ``answers`` counts the feed's answers on the example and ``leases`` the
    lease rows on it, expired or not until they are purged; ``needed`` is the
    example's overlap and ``free`` is ``needed - answers - leases``. Claims
    read the rows with ``free > 0`` through a partial index that holds only
    those, instead of counting answers and leases per example.
    """

    __tablename__ = "feed_slots"
    __table_args__ = (
        Index(
            "ix_feed_slots_open",
            "feed_id",
            "position",
            sqlite_where=text(SLOT_OPEN_SQL),
            postgresql_where=text(SLOT_OPEN_SQL),
        ),
        Index("ix_feed_slots_example", "example_id"),
    )

    feed_id: Mapped[str] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    example_id: Mapped[int] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer)
    task_hash: Mapped[int] = mapped_column(BigInteger)
    needed: Mapped[int] = mapped_column(Integer)
    answers: Mapped[int] = mapped_column(Integer, default=0)
    leases: Mapped[int] = mapped_column(Integer, default=0)
    free: Mapped[int] = mapped_column(Integer)


class Skip(ClusterBase):
    """An example an annotator passed over in a feed; it is never offered to them again."""

    __tablename__ = "skips"
    __table_args__ = (UniqueConstraint("feed_id", "example_id", "annotator_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    feed_id: Mapped[str] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    example_id: Mapped[int] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE")
    )
    annotator_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxEvent(ClusterBase):
    """An event for the control plane, written in the transaction it describes."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "delivered_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    rejected_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
