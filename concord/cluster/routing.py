"""Which examples an annotator gets next, and the leases that hold them.

An example is open to an annotator while the number of distinct annotators who
answered it in the feed plus the live leases on it is below the feed's overlap,
and that annotator has neither answered it nor holds it. Handing it out writes
a lease; a lease not answered before it expires is deleted and the example
returns to the pool. Leases the annotator still holds come back first, so a
reloaded page shows the same task.

Claims run inside one write transaction (``BEGIN IMMEDIATE`` on SQLite, a
per-feed advisory lock on PostgreSQL, see ``concord.cluster.locks``), so two
annotators asking at once, on one replica or several, cannot both take the
last open slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.orm import Session

from concord.cluster.datasets import utcnow
from concord.cluster.feeds import VIEW_IDS
from concord.cluster.locks import lock_answers, lock_feed_claims
from concord.cluster.models import Annotation, Example, Feed, Lease
from concord.cluster.tokenization import Tokenizer


@dataclass
class Batch:
    tasks: list[dict[str, Any]]
    lease_expires_at: datetime | None


def expire_leases(session: Session, feed_id: str, now: datetime) -> None:
    session.execute(
        delete(Lease).where(Lease.feed_id == feed_id, Lease.expires_at <= now)
    )


def open_examples_query(feed: Feed, annotator_id: str, now: datetime):  # noqa: ANN201
    """A select of the ids of examples open to ``annotator_id``, in source order."""
    answered_by_me = exists().where(
        Annotation.feed_id == feed.id,
        Annotation.example_id == Example.id,
        Annotation.annotator_id == annotator_id,
    )
    held_by_me = exists().where(
        Lease.feed_id == feed.id,
        Lease.example_id == Example.id,
        Lease.annotator_id == annotator_id,
        Lease.expires_at > now,
    )
    answers = (
        select(func.count(func.distinct(Annotation.annotator_id)))
        .where(Annotation.feed_id == feed.id, Annotation.example_id == Example.id)
        .scalar_subquery()
    )
    leases = (
        select(func.count())
        .select_from(Lease)
        .where(
            Lease.feed_id == feed.id,
            Lease.example_id == Example.id,
            Lease.expires_at > now,
        )
        .scalar_subquery()
    )
    return (
        select(Example.id)
        .where(
            Example.dataset_id == feed.dataset_id,
            ~answered_by_me,
            ~held_by_me,
            answers + leases < feed.overlap,
        )
        .order_by(Example.position)
    )


def count_open(session: Session, feed: Feed, annotator_id: str) -> int:
    query = open_examples_query(feed, annotator_id, utcnow()).subquery()
    return int(session.scalar(select(func.count()).select_from(query)) or 0)


def next_batch(
    session: Session,
    feed: Feed,
    annotator_id: str,
    count: int,
    tokenizer: Tokenizer,
) -> Batch:
    """Return up to ``count`` tasks for the annotator, leasing new ones as needed."""
    lock_feed_claims(session, feed.id)
    # Held leases are renewed below, so answers that would delete them wait.
    lock_answers(session, feed.id, annotator_id)
    now = utcnow()
    expires = now + timedelta(seconds=feed.lease_seconds)
    expire_leases(session, feed.id, now)
    held = list(
        session.scalars(
            select(Lease)
            .join(Example, Example.id == Lease.example_id)
            .where(Lease.feed_id == feed.id, Lease.annotator_id == annotator_id)
            .order_by(Example.position)
        )
    )
    for lease in held:
        # Asking again counts as activity, so held leases are renewed.
        lease.expires_at = expires
    example_ids = [lease.example_id for lease in held][:count]
    missing = count - len(example_ids)
    if missing > 0:
        new_ids = list(
            session.scalars(open_examples_query(feed, annotator_id, now).limit(missing))
        )
        for example_id in new_ids:
            session.add(
                Lease(
                    feed_id=feed.id,
                    example_id=example_id,
                    annotator_id=annotator_id,
                    expires_at=expires,
                )
            )
        example_ids.extend(new_ids)
    tasks = [
        render_task(session, feed, session.get(Example, example_id), tokenizer)
        for example_id in example_ids
    ]
    return Batch(tasks=tasks, lease_expires_at=expires if tasks else None)


def lease_example(
    session: Session, feed: Feed, example: Example, annotator_id: str
) -> None:
    """Give ``example`` back to the annotator, as after an undo."""
    expires = utcnow() + timedelta(seconds=feed.lease_seconds)
    lease = session.scalar(
        select(Lease).where(
            and_(
                Lease.feed_id == feed.id,
                Lease.example_id == example.id,
                Lease.annotator_id == annotator_id,
            )
        )
    )
    if lease is None:
        session.add(
            Lease(
                feed_id=feed.id,
                example_id=example.id,
                annotator_id=annotator_id,
                expires_at=expires,
            )
        )
    else:
        lease.expires_at = expires


def render_task(
    session: Session, feed: Feed, example: Example, tokenizer: Tokenizer
) -> dict[str, Any]:
    """The example as the annotator sees it in this feed's interface."""
    task = dict(example.task)
    if feed.interface == "ner_manual" and "tokens" not in task:
        if isinstance(task.get("text"), str):
            # Tokens are stored once, so every annotator's spans use the same ones.
            task["tokens"] = tokenizer.tokens(task["text"])
            example.task = task
    if feed.interface == "binary":
        task["label"] = feed.label
    if feed.interface == "choice" and feed.options:
        task["options"] = feed.options
    task["_view_id"] = VIEW_IDS[feed.interface]
    task["_input_hash"] = example.input_hash
    task["_task_hash"] = example.task_hash
    return task
