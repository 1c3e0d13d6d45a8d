"""Submitting and undoing answers in a feed.

A batch of answers is checked as a whole before anything is written: an
unknown task hash or an invalid span rejects the batch and stores nothing.
Resending an ``answer_id`` already stored, or answering a task the annotator
has already answered, stores nothing new and reports the id as a duplicate, so
client retries are safe. Each stored answer writes an ``answer.created`` event
to the outbox in the same transaction.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import DateTime, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from concord.cluster.context import ClusterContext
from concord.cluster.datasets import labels_of, utcnow
from concord.cluster.feeds import check_can_annotate, get_feed
from concord.cluster import slots
from concord.cluster.locks import is_postgresql, lock_answers, lock_feed_claims
from concord.cluster.models import Annotation, Example, Feed, Lease
from concord.cluster.outbox import enqueue, enqueue_many, new_event_fields
from concord.cluster.reviews import checked_review_fields
from concord.cluster.routing import Batch, lease_example, next_batch, render_task, renew_leases
from concord.cluster.slots import example_overlap
from concord.cluster.security import Principal
from concord.cluster.validation import AnswerBatch, AnswerIn, checked_fields
from concord.common.errors import Conflict, InvalidInput, Unavailable
from concord.common.events import AnswerCreated, AnswerUndone

logger = logging.getLogger(__name__)

ANNOTATIONS = Annotation.__table__
LEASES = Lease.__table__


@dataclass
class SubmitResult:
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    # The next tasks, when the batch asked for them.
    following: Batch | None = None


@dataclass
class _Known:
    """The rows a batch of answers depends on, read in a few queries."""

    examples: dict[int, Example]
    stored_ids: set[str]
    answered: set[int]
    held: set[int]


def submit_answers(
    context: ClusterContext, principal: Principal, feed_id: str, batch: AnswerBatch
) -> SubmitResult:
    result = SubmitResult()
    with context.db.transaction() as session:
        feed = get_feed(session, principal, feed_id)
        check_can_annotate(feed, principal)
        known = _lookup(session, feed, principal, batch)
        claiming = bool(batch.next) or not known.held >= {
            example.id for example in known.examples.values()
        }
        if claiming:
            # An answer without a live lease takes a free slot, and asking for
            # next tasks claims: both wait for other claims, taking the locks
            # in the order a claim takes them.
            lock_feed_claims(session, feed.id)
        lock_answers(session, feed.id, principal.user_id)
        if is_postgresql(session):
            # Another replica may have stored a retry while this one waited.
            known = _lookup(session, feed, principal, batch)
        stored: list[Example] = []
        rows: list[dict[str, Any]] = []
        events: list[AnswerCreated] = []
        for index, answer in enumerate(batch.answers):
            example = known.examples.get(answer.task_hash)
            if example is None:
                raise InvalidInput(
                    f"Answer {index}: task hash {answer.task_hash} is not in this feed; "
                    "answer only tasks from POST /api/feeds/{id}/next. Nothing was stored.",
                    details={"index": index, "task_hash": answer.task_hash},
                )
            if answer.answer_id in known.stored_ids or example.id in known.answered:
                result.duplicates.append(answer.answer_id)
                continue
            if example.id not in known.held:
                _check_room(session, feed, principal, example, answer, index)
            record = build_record(session, context, feed, example, principal, answer, index)
            row = annotation_row(feed, example, principal, answer, record)
            rows.append(row)
            events.append(_created_event(context, feed, example, row))
            known.answered.add(example.id)
            known.stored_ids.add(answer.answer_id)
            stored.append(example)
            result.stored.append(answer.answer_id)
        if rows:
            session.connection().execute(insert(ANNOTATIONS), rows)
            enqueue_many(session, events)
        _release_leases(
            session,
            feed,
            principal,
            [example.id for example in stored],
            set() if claiming else known.held,
        )
        # Answering is activity, so the tasks still held stay leased.
        renew_leases(session, feed, principal.user_id)
        if batch.next:
            result.following = next_batch(session, feed, principal.user_id, batch.next, context)
    if result.stored:
        context.outbox_ready.set()
    return result


EXAMPLES_BY_HASH = select(Example).where(
    Example.dataset_id == bindparam("dataset_id"),
    Example.task_hash.in_(bindparam("task_hashes", expanding=True)),
)
_STORED_IDS = select(ANNOTATIONS.c.answer_id).where(
    ANNOTATIONS.c.feed_id == bindparam("feed_id"),
    ANNOTATIONS.c.answer_id.in_(bindparam("answer_ids", expanding=True)),
)
_ANSWERED = select(ANNOTATIONS.c.example_id).where(
    ANNOTATIONS.c.feed_id == bindparam("feed_id"),
    ANNOTATIONS.c.annotator_id == bindparam("annotator_id"),
    ANNOTATIONS.c.example_id.in_(bindparam("example_ids", expanding=True)),
)
_HELD = select(LEASES.c.example_id).where(
    LEASES.c.feed_id == bindparam("feed_id"),
    LEASES.c.annotator_id == bindparam("annotator_id"),
    LEASES.c.example_id.in_(bindparam("example_ids", expanding=True)),
    LEASES.c.expires_at > bindparam("now", type_=DateTime(timezone=True)),
)
_RELEASE = (
    delete(LEASES)
    .where(
        LEASES.c.feed_id == bindparam("feed_id"),
        LEASES.c.annotator_id == bindparam("annotator_id"),
        LEASES.c.example_id.in_(bindparam("example_ids", expanding=True)),
    )
    .returning(LEASES.c.example_id)
)


def _lookup(
    session: Session, feed: Feed, principal: Principal, batch: AnswerBatch
) -> _Known:
    connection = session.connection()
    examples = {
        example.task_hash: example
        for example in session.scalars(
            EXAMPLES_BY_HASH,
            {
                "dataset_id": feed.dataset_id,
                "task_hashes": sorted({answer.task_hash for answer in batch.answers}),
            },
        )
    }
    mine = {
        "feed_id": feed.id,
        "annotator_id": principal.user_id,
        "example_ids": [example.id for example in examples.values()],
    }
    stored_ids = set(
        connection.execute(
            _STORED_IDS,
            {
                "feed_id": feed.id,
                "answer_ids": sorted({answer.answer_id for answer in batch.answers}),
            },
        ).scalars()
    )
    answered = set(connection.execute(_ANSWERED, mine).scalars())
    held = set(connection.execute(_HELD, {**mine, "now": utcnow()}).scalars())
    return _Known(examples=examples, stored_ids=stored_ids, answered=answered, held=held)


def _release_leases(
    session: Session,
    feed: Feed,
    principal: Principal,
    example_ids: list[int],
    must_release: set[int],
) -> None:
    """Delete the caller's leases on the answered examples and count the new answers.

    An answer on a held lease turns the lease into an answer, so its slot
    stays taken. An answer without a lease takes a free slot. A lease in
    ``must_release`` that is gone was purged after it expired, by a claim that
    may have given its slot to someone else; without the claims lock that
    cannot be checked here, so the request fails and its retry checks room.
    """
    if not example_ids:
        return
    released = set(
        session.connection()
        .execute(
            _RELEASE,
            {"feed_id": feed.id, "annotator_id": principal.user_id, "example_ids": example_ids},
        )
        .scalars()
    )
    vanished = (must_release & set(example_ids)) - released
    if vanished:
        logger.info(
            "feed %s: leases of %s on examples %s expired while answering",
            feed.id,
            principal.user_id,
            sorted(vanished),
        )
        raise Unavailable(
            "A lease expired while its answer was being stored and nothing was "
            "stored; send the same answers again."
        )
    slots.change_each(
        session,
        feed.id,
        ((example_id, 1, -1 if example_id in released else 0) for example_id in example_ids),
    )


def _check_room(
    session: Session,
    feed: Feed,
    principal: Principal,
    example: Example,
    answer: AnswerIn,
    index: int,
) -> None:
    """Reject an answer that would give the example more answerers than its overlap.

    An annotator who holds a live lease may always answer. Without one (the
    lease expired, or the task was never handed out), the answer is stored
    only while the example still has room, counting other annotators' live
    leases, so overlap stays exact.
    """
    now = utcnow()
    answerers = session.scalar(
        select(func.count(func.distinct(Annotation.annotator_id))).where(
            Annotation.feed_id == feed.id, Annotation.example_id == example.id
        )
    )
    leases = session.scalar(
        select(func.count())
        .select_from(Lease)
        .where(
            Lease.feed_id == feed.id,
            Lease.example_id == example.id,
            Lease.annotator_id != principal.user_id,
            Lease.expires_at > now,
        )
    )
    limit = example_overlap(feed, example.task_hash)
    if limit is not None and int(answerers or 0) + int(leases or 0) >= limit:
        raise Conflict(
            f"Answer {index}: task {answer.task_hash} was handed to other annotators "
            "after your lease on it expired, and it has all the answers it needs. "
            "Nothing was stored; ask for new tasks.",
            details={"index": index, "task_hash": answer.task_hash},
        )


def build_record(
    session: Session,
    context: ClusterContext,
    feed: Feed,
    example: Example,
    principal: Principal,
    answer: AnswerIn,
    index: int,
) -> dict[str, Any]:
    """Check the answer and build the full annotated record in Prodigy's format."""
    record = render_task(session, feed, example, context)
    record["answer"] = answer.answer
    if feed.interface == "review":
        record.update(checked_review_fields(feed, record, answer, index))
    else:
        record.update(checked_fields(feed.interface, feed, record, answer, index))
    record["_annotator_id"] = principal.name
    record["_session_id"] = f"{feed.name}-{principal.name}"
    record["_timestamp"] = int(time.time())
    return record


def annotation_row(
    feed: Feed,
    example: Example,
    principal: Principal,
    answer: AnswerIn,
    record: dict[str, Any],
) -> dict[str, Any]:
    """Return the ``annotations`` row of a checked answer."""
    return {
        "id": uuid.uuid4().hex,
        "dataset_id": feed.dataset_id,
        "example_id": example.id,
        "feed_id": feed.id,
        "annotator_id": principal.user_id,
        "annotator_name": principal.name,
        "answer_id": answer.answer_id,
        "import_key": None,
        "answer": answer.answer,
        "labels": labels_of(record),
        "record": record,
        "timestamp": record["_timestamp"],
        "created_at": utcnow(),
    }


def _created_event(
    context: ClusterContext, feed: Feed, example: Example, row: dict[str, Any]
) -> AnswerCreated:
    return AnswerCreated(
        **new_event_fields(context, feed.project_id),
        feed_id=feed.id,
        annotation_id=row["id"],
        annotator_id=row["annotator_id"],
        input_hash=example.input_hash,
        task_hash=example.task_hash,
        answer=row["answer"],
        labels=row["labels"],
    )


@dataclass
class UndoResult:
    answer_id: str | None
    task_hash: int | None
    task: dict[str, Any] | None


def undo_last(context: ClusterContext, principal: Principal, feed_id: str) -> UndoResult:
    """Remove the caller's latest answer in the feed and lease its task back."""
    with context.db.transaction() as session:
        feed = get_feed(session, principal, feed_id)
        check_can_annotate(feed, principal)
        # Undo frees a slot and leases it back: it waits for claims like a claim.
        lock_feed_claims(session, feed.id)
        lock_answers(session, feed.id, principal.user_id)
        annotation = session.scalar(
            select(Annotation)
            .where(
                Annotation.feed_id == feed.id,
                Annotation.annotator_id == principal.user_id,
            )
            .order_by(Annotation.created_at.desc(), Annotation.timestamp.desc())
            .limit(1)
        )
        if annotation is None:
            return UndoResult(answer_id=None, task_hash=None, task=None)
        example = session.get(Example, annotation.example_id)
        assert example is not None
        session.delete(annotation)
        slots.change(session, feed.id, [example.id], answers=-1)
        lease_example(session, feed, example, principal.user_id)
        enqueue(
            session,
            AnswerUndone(
                **new_event_fields(context, feed.project_id),
                feed_id=feed.id,
                annotation_id=annotation.id,
                annotator_id=principal.user_id,
            ),
        )
        task = render_task(session, feed, example, context)
        result = UndoResult(
            answer_id=annotation.answer_id, task_hash=example.task_hash, task=task
        )
    context.outbox_ready.set()
    logger.info("user %s undid an answer in feed %s", principal.user_id, feed_id)
    return result
