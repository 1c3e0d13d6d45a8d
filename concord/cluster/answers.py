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
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from concord.cluster.context import ClusterContext
from concord.cluster.datasets import labels_of, utcnow
from concord.cluster.feeds import get_feed
from concord.cluster.locks import lock_answers
from concord.cluster.models import Annotation, Example, Feed, Lease
from concord.cluster.outbox import enqueue, new_event_fields
from concord.cluster.routing import lease_example, render_task
from concord.cluster.security import Principal
from concord.common.errors import InvalidInput
from concord.common.events import AnswerCreated, AnswerUndone

logger = logging.getLogger(__name__)


class SpanIn(BaseModel):
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    label: str = Field(min_length=1, max_length=64)
    text: str | None = None


class AnswerIn(BaseModel):
    answer_id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    task_hash: int
    answer: Literal["accept", "reject", "ignore"]
    accept: list[str] | None = Field(None, max_length=200)
    spans: list[SpanIn] | None = Field(None, max_length=5_000)


class AnswerBatch(BaseModel):
    answers: list[AnswerIn] = Field(min_length=1, max_length=500)


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
            record = build_record(session, context, feed, example, principal, answer, index)
            _store(context, session, feed, example, principal, answer, record)
            result.stored.append(answer.answer_id)
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


def build_record(
    session: Session,
    context: ClusterContext,
    feed: Feed,
    example: Example,
    principal: Principal,
    answer: AnswerIn,
    index: int,
) -> dict[str, Any]:
    """The full annotated record in Prodigy's format, after checking the answer."""
    record = render_task(session, feed, example, context.tokenizer)
    record["answer"] = answer.answer
    if feed.interface == "choice":
        record["accept"] = _checked_choice(feed, record, answer, index)
    elif feed.interface == "ner_manual":
        record["spans"] = _checked_spans(feed, record, answer, index)
    record["_annotator_id"] = principal.name
    record["_session_id"] = f"{feed.name}-{principal.name}"
    record["_timestamp"] = int(time.time())
    return record


def _checked_choice(
    feed: Feed, task: dict[str, Any], answer: AnswerIn, index: int
) -> list[str]:
    chosen = answer.accept or []
    valid = {str(option.get("id")) for option in task.get("options") or []}
    unknown = [option for option in chosen if option not in valid]
    if unknown:
        raise InvalidInput(
            f"Answer {index}: option {unknown[0]!r} is not an option of this task; "
            f"choose from {sorted(valid)}. Nothing was stored.",
            details={"index": index, "option": unknown[0]},
        )
    if len(set(chosen)) != len(chosen):
        raise InvalidInput(f"Answer {index}: an option is chosen twice in {chosen!r}.")
    if not feed.multiple and len(chosen) > 1:
        raise InvalidInput(
            f"Answer {index}: this feed takes a single choice, got {len(chosen)} "
            "options. Nothing was stored.",
            details={"index": index},
        )
    return chosen


def _checked_spans(
    feed: Feed, task: dict[str, Any], answer: AnswerIn, index: int
) -> list[dict[str, Any]]:
    text: str = task.get("text") or ""
    tokens = task.get("tokens") or []
    starts = {token["start"]: token["id"] for token in tokens}
    ends = {token["end"]: token["id"] for token in tokens}
    spans: list[dict[str, Any]] = []
    for number, span in enumerate(sorted(answer.spans or [], key=lambda s: s.start)):
        where = f"Answer {index}, span {number} ({span.start}-{span.end})"
        if span.end <= span.start or span.end > len(text):
            raise InvalidInput(
                f"{where}: offsets must satisfy 0 <= start < end <= {len(text)} "
                "(code points into the text). Nothing was stored.",
                details={"index": index, "span": number},
            )
        if span.label not in feed.labels:
            raise InvalidInput(
                f"{where}: label {span.label!r} is not one of the feed's labels "
                f"{feed.labels}. Nothing was stored.",
                details={"index": index, "span": number, "label": span.label},
            )
        if span.text is not None and span.text != text[span.start : span.end]:
            raise InvalidInput(
                f"{where}: span text {span.text!r} does not match the task text "
                f"at those offsets. Nothing was stored.",
                details={"index": index, "span": number},
            )
        if span.start not in starts or span.end not in ends:
            raise InvalidInput(
                f"{where}: a span must start and end on token boundaries; snap it "
                "to whole tokens. Nothing was stored.",
                details={"index": index, "span": number},
            )
        if spans and span.start < spans[-1]["end"]:
            raise InvalidInput(
                f"{where}: spans overlap; remove one of them. Nothing was stored.",
                details={"index": index, "span": number},
            )
        spans.append(
            {
                "start": span.start,
                "end": span.end,
                "token_start": starts[span.start],
                "token_end": ends[span.end],
                "label": span.label,
            }
        )
    return spans


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
        task = render_task(session, feed, example, context.tokenizer)
        result = UndoResult(
            answer_id=annotation.answer_id, task_hash=example.task_hash, task=task
        )
    context.outbox_ready.set()
    logger.info("user %s undid an answer in feed %s", principal.user_id, feed_id)
    return result
