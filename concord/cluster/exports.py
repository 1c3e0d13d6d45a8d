"""Exports as Prodigy-compatible JSONL, streamed row by row."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import exists, select

from concord.cluster.context import ClusterContext
from concord.cluster.models import Annotation, Example
from concord.cluster.outbox import enqueue, new_event_fields
from concord.cluster.security import Principal
from concord.common.events import ExportStarted
from concord.common.formats.jsonl import dump_line

CHUNK_ROWS = 1000


def record_export(
    context: ClusterContext, principal: Principal, source_kind: str, source_id: str
) -> None:
    """Report an export to the control plane, which keeps it in its audit log."""
    with context.db.transaction() as session:
        enqueue(
            session,
            ExportStarted(
                **new_event_fields(context, principal.project_id),
                source_kind=source_kind,  # type: ignore[arg-type]
                source_id=source_id,
                actor_id=principal.user_id,
            ),
        )
    context.outbox_ready.set()


def export_dataset(context: ClusterContext, dataset_id: str) -> Iterator[bytes]:
    """Yield every annotation in the dataset, then every example that has none."""
    with context.db.sessions() as session:
        annotations = (
            select(Annotation.record)
            .join(Example, Example.id == Annotation.example_id)
            .where(Annotation.dataset_id == dataset_id)
            .order_by(Example.position, Annotation.created_at)
        )
        for record in session.scalars(annotations).yield_per(CHUNK_ROWS):
            yield dump_line(record)
        answered = exists().where(Annotation.example_id == Example.id)
        examples = (
            select(Example)
            .where(Example.dataset_id == dataset_id, ~answered)
            .order_by(Example.position)
        )
        for example in session.scalars(examples).yield_per(CHUNK_ROWS):
            task = dict(example.task)
            task["_input_hash"] = example.input_hash
            task["_task_hash"] = example.task_hash
            yield dump_line(task)


def export_feed(context: ClusterContext, feed_id: str) -> Iterator[bytes]:
    """Yield the feed's standing annotations in source order."""
    with context.db.sessions() as session:
        query = (
            select(Annotation.record)
            .join(Example, Example.id == Annotation.example_id)
            .where(Annotation.feed_id == feed_id)
            .order_by(Example.position, Annotation.created_at)
        )
        for record in session.scalars(query).yield_per(CHUNK_ROWS):
            yield dump_line(record)
