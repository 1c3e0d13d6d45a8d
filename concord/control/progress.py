"""Progress of a feed, computed from the answers that clusters reported.

An answer is standing until an ``answer.undone`` event marks it undone. An
example (task hash) is started when it has one standing answer and done when
at least ``overlap`` distinct annotators have a standing answer on it.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from concord.control.models import Answer, Feed, User


class AnnotatorProgress(BaseModel):
    user_id: str
    username: str
    answers: int
    accept: int
    reject: int
    ignore: int


class Progress(BaseModel):
    feed_id: str
    name: str
    overlap: int
    examples_total: int
    examples_done: int
    examples_started: int
    answers: int
    annotators: list[AnnotatorProgress]


def compute_progress(session: Session, feed: Feed) -> Progress:
    """Count the feed's standing answers, examples started and examples done."""
    standing = (Answer.feed_id == feed.id) & Answer.undone_at.is_(None)
    annotators_per_task = (
        select(func.count(func.distinct(Answer.annotator_id)).label("annotators"))
        .where(standing)
        .group_by(Answer.task_hash)
        .subquery()
    )
    done_condition = annotators_per_task.c.annotators >= feed.overlap
    started, done = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((done_condition, 1), else_=0)), 0),
        ).select_from(annotators_per_task)
    ).one()
    annotators = _annotator_counts(session, standing)
    return Progress(
        feed_id=feed.id,
        name=feed.name,
        overlap=feed.overlap,
        examples_total=feed.examples_total,
        examples_done=done,
        examples_started=started,
        answers=sum(annotator.answers for annotator in annotators),
        annotators=annotators,
    )


def _annotator_counts(
    session: Session, standing: ColumnElement[bool]
) -> list[AnnotatorProgress]:
    rows = session.execute(
        select(User.id, User.username, Answer.answer, func.count())
        .join(User, User.id == Answer.annotator_id)
        .where(standing)
        .group_by(User.id, User.username, Answer.answer)
        .order_by(User.username)
    )
    by_user: dict[str, AnnotatorProgress] = {}
    for user_id, username, answer, count in rows:
        entry = by_user.setdefault(
            user_id,
            AnnotatorProgress(
                user_id=user_id,
                username=username,
                answers=0,
                accept=0,
                reject=0,
                ignore=0,
            ),
        )
        entry.answers += count
        setattr(entry, answer, getattr(entry, answer) + count)
    return list(by_user.values())
