"""Progress of a feed as the cluster sees it, for the annotation page."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concord.cluster.feeds import feed_example_count
from concord.cluster.models import Annotation, Example, Feed
from concord.cluster.routing import count_open, overlap_limit


def feed_progress(session: Session, feed: Feed, annotator_id: str) -> dict[str, Any]:
    examples_total = feed_example_count(session, feed)
    per_example = (
        select(
            Annotation.example_id,
            func.count(func.distinct(Annotation.annotator_id)).label("annotators"),
        )
        .where(Annotation.feed_id == feed.id)
        .group_by(Annotation.example_id)
        .subquery()
    )
    target = overlap_limit(feed)
    if target is None:
        # Full overlap has no fixed target, so an example is done once every
        # annotator who has answered in the feed has answered it.
        target = (
            select(func.count(func.distinct(Annotation.annotator_id)))
            .where(Annotation.feed_id == feed.id)
            .scalar_subquery()
        )
    done = session.scalar(
        select(func.count())
        .select_from(per_example)
        .join(Example, Example.id == per_example.c.example_id)
        .where(per_example.c.annotators >= target)
    )
    answers = session.scalar(
        select(func.count()).select_from(Annotation).where(Annotation.feed_id == feed.id)
    )
    mine = session.scalar(
        select(func.count())
        .select_from(Annotation)
        .where(Annotation.feed_id == feed.id, Annotation.annotator_id == annotator_id)
    )
    return {
        "feed_id": feed.id,
        "examples_total": examples_total,
        "examples_done": int(done or 0),
        "answers": int(answers or 0),
        "mine": {
            "answers": int(mine or 0),
            "available": count_open(session, feed, annotator_id),
        },
    }
