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

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from concord.cluster.context import ClusterContext
from concord.cluster.datasets import labels_of, utcnow
from concord.cluster.feeds import check_can_annotate, get_feed
from concord.cluster.locks import lock_answers
from concord.cluster.models import Annotation, Example, Feed, Lease
from concord.cluster.outbox import enqueue, new_event_fields
from concord.cluster.reviews import checked_review_fields
from concord.cluster.routing import lease_example, render_task, renew_leases
from concord.cluster.security import Principal
from concord.cluster.validation import AnswerBatch, AnswerIn, checked_fields
from concord.common.errors import Conflict, InvalidInput
from concord.common.events import AnswerCreated, AnswerUndone

logger = logging.getLogger(__name__)


@dataclass
class SubmitResult:
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def submit_answers(
    context: ClusterContext, principal: Principal, feed_id: str, batch: AnswerBatch
) -> SubmitResult:
    result = SubmitResult()
    with context.db.transaction() as session:
        feed = get_feed(session, principal, feed_id)
        check_can_annotate(feed, principal)
        lock_answers(session, feed.id, principal.user_id)
        seen_in_batch: set[int] = set()
        for index, answer in enumerate(batch.answers):
            example = _find_example(session, feed, answer, index)
            if _is_duplicate(session, feed, principal, example, answer):
                result.duplicates.append(answer.answer_id)
                continue
            if example.id in seen_in_batch:
                result.duplicates.append(answer.answer_id)
                continue
            seen_in_batch.add(example.id)
            _check_room(session, feed, principal, example, answer, index)
            record = build_record(session, context, feed, example, principal, answer, index)
            _store(context, session, feed, example, principal, answer, record)
            result.stored.append(answer.answer_id)
        # Answering is activity, so the tasks still held stay leased.
        renew_leases(session, feed, principal.user_id)
    if result.stored:
        context.outbox_ready.set()
    return result


def _find_example(
    session: Session, feed: Feed, answer: AnswerIn, index: int
) -> Example:
    example = session.scalar(
        select(Example).where(
            Example.dataset_id == feed.dataset_id, Example.task_hash == answer.task_hash
        )
    )
    if example is None:
        raise InvalidInput(
            f"Answer {index}: task hash {answer.task_hash} is not in this feed; "
            "answer only tasks from POST /api/feeds/{id}/next. Nothing was stored.",
            details={"index": index, "task_hash": answer.task_hash},
        )
    return example


def _is_duplicate(
    session: Session,
    feed: Feed,
    principal: Principal,
    example: Example,
    answer: AnswerIn,
) -> bool:
    by_id = session.scalar(
        select(Annotation.id).where(
            Annotation.feed_id == feed.id, Annotation.answer_id == answer.answer_id
        )
    )
    if by_id is not None:
        return True
    by_task = session.scalar(
        select(Annotation.id).where(
            Annotation.feed_id == feed.id,
            Annotation.example_id == example.id,
            Annotation.annotator_id == principal.user_id,
        )
    )
    return by_task is not None


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
    holds = session.scalar(
        select(Lease.id).where(
            Lease.feed_id == feed.id,
            Lease.example_id == example.id,
            Lease.annotator_id == principal.user_id,
            Lease.expires_at > now,
        )
    )
    if holds is not None:
        return
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
    if int(answerers or 0) + int(leases or 0) >= feed.overlap:
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


def _store(
    context: ClusterContext,
    session: Session,
    feed: Feed,
    example: Example,
    principal: Principal,
    answer: AnswerIn,
    record: dict[str, Any],
) -> None:
    annotation = Annotation(
        id=uuid.uuid4().hex,
        dataset_id=feed.dataset_id,
        example_id=example.id,
        feed_id=feed.id,
        annotator_id=principal.user_id,
        annotator_name=principal.name,
        answer_id=answer.answer_id,
        import_key=None,
        answer=answer.answer,
        labels=labels_of(record),
        record=record,
        timestamp=record["_timestamp"],
        created_at=utcnow(),
    )
    session.add(annotation)
    session.execute(
        delete(Lease).where(
            Lease.feed_id == feed.id,
            Lease.example_id == example.id,
            Lease.annotator_id == principal.user_id,
        )
    )
    enqueue(
        session,
        AnswerCreated(
            **new_event_fields(context, feed.project_id),
            feed_id=feed.id,
            annotation_id=annotation.id,
            annotator_id=principal.user_id,
            input_hash=example.input_hash,
            task_hash=example.task_hash,
            answer=answer.answer,
            labels=annotation.labels,
        ),
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
