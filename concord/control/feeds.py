"""Datasets and feeds as clusters reported them, and feed progress."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from concord.common.errors import NotFound
from concord.control.auth import CallerDep, ProjectAccess, SessionDep, project_access
from concord.control.models import Answer, Dataset, Feed, User
from concord.control.progress import Progress, compute_progress
from concord.control.schemas import DatasetOut, FeedOut


def feed_access(
    session: Session, user: User, feed_id: str
) -> tuple[Feed, ProjectAccess]:
    """Return a feed and the user's access to its project; NotFound for non-members."""
    feed = session.get(Feed, feed_id)
    if feed is not None:
        try:
            return feed, project_access(session, user, feed.project_id)
        except NotFound:
            pass
    raise NotFound(
        f"Feed '{feed_id}' not found. List a project's feeds with "
        "GET /api/projects/{project_id}/feeds."
    )


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


def list_feeds(session: Session, project_id: str) -> list[Feed]:
    query = select(Feed).where(Feed.project_id == project_id).order_by(Feed.name)
    return list(session.scalars(query))


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
def datasets(
    project_id: str, caller: CallerDep, session: SessionDep
) -> list[DatasetOut]:
    access = project_access(session, caller.user, project_id)
    return list_datasets(session, access.project.id)


@router.get("/projects/{project_id}/feeds")
def feeds(project_id: str, caller: CallerDep, session: SessionDep) -> list[FeedOut]:
    access = project_access(session, caller.user, project_id)
    return [feed_out(feed) for feed in list_feeds(session, access.project.id)]


@router.get("/feeds/{feed_id}")
def feed(feed_id: str, caller: CallerDep, session: SessionDep) -> FeedOut:
    found, _ = feed_access(session, caller.user, feed_id)
    return feed_out(found)


@router.get("/feeds/{feed_id}/progress")
def progress(feed_id: str, caller: CallerDep, session: SessionDep) -> Progress:
    """Count examples done and started and each annotator's answers."""
    found, _ = feed_access(session, caller.user, feed_id)
    return compute_progress(session, found)
