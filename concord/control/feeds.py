"""Datasets and feeds as clusters reported them, and feed progress."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concord.control.auth import ProjectAccess, SessionDep
from concord.control.authorization import GrantDep
from concord.control.models import Answer, Dataset, Feed, FeedMember
from concord.control.progress import Progress, compute_progress
from concord.control.schemas import DatasetOut, FeedOut


def list_datasets(session: Session, project_id: str) -> list[DatasetOut]:
    """Return the project's datasets; ``annotations`` counts imported annotations
    plus standing answers in the dataset's feeds."""
    rows = session.execute(
        select(Feed.dataset_id, func.count())
        .join(Answer, Answer.feed_id == Feed.id)
        .where(Feed.project_id == project_id, Answer.undone_at.is_(None))
        .group_by(Feed.dataset_id)
    )
    answered = {dataset_id: count for dataset_id, count in rows}
    datasets = session.scalars(
        select(Dataset)
        .where(Dataset.project_id == project_id)
        .order_by(Dataset.name, Dataset.id)
    )
    return [
        DatasetOut(
            id=dataset.id,
            name=dataset.name,
            role=dataset.role,
            examples_total=dataset.examples_total,
            annotations=dataset.annotations_imported + answered.get(dataset.id, 0),
        )
        for dataset in datasets
    ]


def visible_feeds(session: Session, access: ProjectAccess) -> list[Feed]:
    """Return the project's feeds the user may work on: every feed for
    reviewers, managers and admins, the feeds they are a member of for
    annotators."""
    query = (
        select(Feed)
        .where(Feed.project_id == access.project.id)
        .order_by(Feed.name, Feed.id)
    )
    if not access.sees_all_feeds:
        query = query.join(FeedMember, FeedMember.feed_id == Feed.id).where(
            FeedMember.user_id == access.user.id
        )
    return list(session.scalars(query))


def progress_for(session: Session, access: ProjectAccess, feed: Feed) -> Progress:
    """Return a feed's progress; an annotator sees only their own row of
    per-annotator counts."""
    progress = compute_progress(session, feed)
    if not access.sees_all_feeds:
        progress.annotators = [
            row for row in progress.annotators if row.user_id == access.user.id
        ]
    return progress


def feed_out(feed: Feed) -> FeedOut:
    return FeedOut(
        id=feed.id,
        project_id=feed.project_id,
        dataset_id=feed.dataset_id,
        name=feed.name,
        interface=feed.interface,
        labels=list(feed.labels),
        multiple=feed.multiple,
        overlap=feed.overlap,
        lease_seconds=feed.lease_seconds,
        examples_total=feed.examples_total,
    )


router = APIRouter(prefix="/api", tags=["datasets and feeds"])


@router.get("/projects/{project_id}/datasets")
def datasets(project_id: str, grant: GrantDep, session: SessionDep) -> list[DatasetOut]:
    return list_datasets(session, grant.project.project.id)


@router.get("/projects/{project_id}/feeds")
def feeds(project_id: str, grant: GrantDep, session: SessionDep) -> list[FeedOut]:
    """List the feeds of the project that the caller may work on."""
    return [feed_out(feed) for feed in visible_feeds(session, grant.project)]


@router.get("/feeds/{feed_id}")
def feed(feed_id: str, grant: GrantDep) -> FeedOut:
    assert grant.feed is not None
    return feed_out(grant.feed)


@router.get("/feeds/{feed_id}/progress")
def progress(feed_id: str, grant: GrantDep, session: SessionDep) -> Progress:
    """Count examples done and started and the annotators' answers."""
    assert grant.feed is not None
    return progress_for(session, grant.project, grant.feed)
