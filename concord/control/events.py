"""Ingestion of the events clusters report: ``POST /api/events``.

Events are applied in order, each in its own savepoint, and each event id is
applied once: its id goes into ``received_events`` with its effects, so a
redelivered event is only listed under ``duplicates``. A rejected event
changes nothing and is not recorded, so the cluster may send it again once
the cause is fixed (for example after the annotator was added to the project).

Log lines carry ids, kinds and rejection codes only, never event values.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from concord.common.errors import InvalidInput
from concord.common.events import (
    AgreementComputed,
    AnswerCreated,
    AnswerUndone,
    DatasetCreated,
    DatasetImported,
    EventBatch,
    ExportStarted,
    FeedCreated,
    GoldBuilt,
)
from concord.control import audit
from concord.control.auth import SessionDep
from concord.control.authorization import GrantDep, source_project_id
from concord.control.models import (
    AgreementResult,
    Answer,
    Cluster,
    Dataset,
    Feed,
    GoldResult,
    Membership,
    Project,
    ReceivedEvent,
    User,
)
from concord.control.schemas import IngestResult, Rejection

logger = logging.getLogger(__name__)

# Fields every event has; the rest are its values.
ENVELOPE_FIELDS = {"event_id", "cluster_id", "project_id", "created_at", "kind"}

AnyEvent = (
    DatasetCreated
    | DatasetImported
    | FeedCreated
    | ExportStarted
    | AnswerCreated
    | AnswerUndone
    | AgreementComputed
    | GoldBuilt
)


class EventRejected(Exception):
    """An event that cannot be applied. ``code`` is safe to log; ``reason`` goes
    back to the cluster."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def ingest_batch(session: Session, cluster: Cluster, batch: EventBatch) -> IngestResult:
    """Apply a batch from ``cluster`` in order and commit what was accepted."""
    result = IngestResult(accepted=[], duplicates=[], rejected=[])
    for event in batch.events:
        if session.get(ReceivedEvent, event.event_id) is not None:
            result.duplicates.append(event.event_id)
            continue
        try:
            with session.begin_nested():
                apply_event(session, cluster, event)
                session.add(
                    ReceivedEvent(
                        event_id=event.event_id, kind=event.kind, cluster_id=cluster.id
                    )
                )
                session.flush()
        except EventRejected as exc:
            logger.warning(
                "rejected event %s (%s) from cluster %s: %s",
                event.event_id,
                event.kind,
                cluster.id,
                exc.code,
            )
            result.rejected.append(
                Rejection(event_id=event.event_id, reason=exc.reason)
            )
        except IntegrityError:
            # Another request applied the same event id first.
            if session.get(ReceivedEvent, event.event_id) is None:
                raise
            result.duplicates.append(event.event_id)
        else:
            result.accepted.append(event.event_id)
    session.commit()
    logger.debug(
        "events from cluster %s: %d accepted, %d duplicates, %d rejected",
        cluster.id,
        len(result.accepted),
        len(result.duplicates),
        len(result.rejected),
    )
    return result


def apply_event(session: Session, cluster: Cluster, event: AnyEvent) -> None:
    """Apply one event's effects; raise EventRejected when it cannot apply."""
    project = _event_project(session, cluster, event)
    match event:
        case DatasetCreated():
            _dataset_created(session, project, event)
        case DatasetImported():
            _dataset_imported(session, project, event)
        case FeedCreated():
            _feed_created(session, project, event)
        case ExportStarted():
            _audit_from_cluster(
                session,
                project,
                "export.started",
                event.actor_id,
                event.source_kind,
                event.source_id,
            )
        case AnswerCreated():
            _answer_created(session, project, event)
        case AnswerUndone():
            _answer_undone(session, project, event)
        case AgreementComputed():
            _store_result(session, project, AgreementResult, event)
        case GoldBuilt():
            _store_result(session, project, GoldResult, event)


def _event_project(session: Session, cluster: Cluster, event: AnyEvent) -> Project:
    if event.cluster_id != cluster.id:
        raise EventRejected(
            "wrong_cluster",
            f"cluster_id '{event.cluster_id}' is not the cluster that sent the "
            f"batch ('{cluster.id}')",
        )
    project = session.get(Project, event.project_id)
    if project is None or project.cluster_id != cluster.id:
        raise EventRejected(
            "unknown_project",
            f"project '{event.project_id}' is not a project on this cluster",
        )
    return project


def _utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; a timestamp without a zone is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _is_newer(moment: datetime, previous: datetime | None) -> bool:
    return previous is None or moment >= previous


def _dataset_in_project(
    session: Session, project: Project, dataset_id: str
) -> Dataset | None:
    dataset = session.get(Dataset, dataset_id)
    if dataset is not None and dataset.project_id != project.id:
        raise EventRejected(
            "dataset_in_other_project",
            f"dataset '{dataset_id}' belongs to another project",
        )
    return dataset


def _upsert_dataset(
    session: Session, project: Project, dataset_id: str, created_at: datetime
) -> Dataset:
    dataset = _dataset_in_project(session, project, dataset_id)
    if dataset is None:
        dataset = Dataset(
            id=dataset_id,
            project_id=project.id,
            role="source",
            examples_total=0,
            annotations_imported=0,
            created_at=created_at,
        )
        session.add(dataset)
    return dataset


def _dataset_created(session: Session, project: Project, event: DatasetCreated) -> None:
    dataset = _upsert_dataset(
        session, project, event.dataset_id, _utc(event.created_at)
    )
    dataset.name = event.name
    dataset.role = event.role


def _dataset_imported(
    session: Session, project: Project, event: DatasetImported
) -> None:
    """Add the imported annotations and take the newest example total.

    A feed serves its whole dataset, so the dataset's new total is also the
    total of its feeds.
    """
    created_at = _utc(event.created_at)
    dataset = _upsert_dataset(session, project, event.dataset_id, created_at)
    dataset.annotations_imported += event.annotations_added
    if _is_newer(created_at, dataset.totals_at):
        dataset.examples_total = event.examples_total
        dataset.totals_at = created_at
    feeds = session.scalars(
        select(Feed).where(Feed.dataset_id == dataset.id, Feed.project_id == project.id)
    )
    for feed in feeds:
        if _is_newer(created_at, feed.totals_at):
            feed.examples_total = event.examples_total
            feed.totals_at = created_at


def _feed_created(session: Session, project: Project, event: FeedCreated) -> None:
    created_at = _utc(event.created_at)
    _dataset_in_project(session, project, event.dataset_id)
    feed = session.get(Feed, event.feed_id)
    if feed is not None and feed.project_id != project.id:
        raise EventRejected(
            "feed_in_other_project",
            f"feed '{event.feed_id}' belongs to another project",
        )
    created = feed is None
    if feed is None:
        feed = Feed(id=event.feed_id, project_id=project.id, created_at=created_at)
        session.add(feed)
    feed.dataset_id = event.dataset_id
    feed.name = event.name
    feed.interface = event.interface
    feed.labels = list(event.labels)
    feed.multiple = event.multiple
    feed.overlap = event.overlap
    feed.lease_seconds = event.lease_seconds
    if _is_newer(created_at, feed.totals_at):
        feed.examples_total = event.examples_total
        feed.totals_at = created_at
    if created and event.actor_id is not None:
        _audit_from_cluster(
            session, project, "feed.created", event.actor_id, "feed", event.feed_id
        )


def _audit_from_cluster(
    session: Session,
    project: Project,
    action: str,
    actor_id: str,
    object_type: str,
    object_id: str,
) -> None:
    """Record in the audit log an action that a user took on the cluster."""
    actor = session.get(User, actor_id)
    audit.record(
        session,
        action,
        actor=actor,
        actor_name=None if actor is not None else actor_id,
        object_type=object_type,
        object_id=object_id,
        project_id=project.id,
    )


def _feed_in_project(session: Session, project: Project, feed_id: str) -> Feed:
    feed = session.get(Feed, feed_id)
    if feed is None or feed.project_id != project.id:
        raise EventRejected(
            "unknown_feed",
            f"feed '{feed_id}' is unknown in project '{project.id}'; send its "
            "feed.created event first",
        )
    return feed


def _check_annotator(session: Session, project: Project, annotator_id: str) -> None:
    """Accept users who are members of the project, and instance admins, who may
    work in every project."""
    user = session.get(User, annotator_id)
    if user is not None and (
        user.is_admin or session.get(Membership, (project.id, user.id)) is not None
    ):
        return
    raise EventRejected(
        "annotator_not_member",
        f"annotator '{annotator_id}' is not a member of project '{project.id}'",
    )


def _answer_created(session: Session, project: Project, event: AnswerCreated) -> None:
    feed = _feed_in_project(session, project, event.feed_id)
    _check_annotator(session, project, event.annotator_id)
    declared = set(feed.labels)
    undeclared = sorted({label for label in event.labels if label not in declared})
    if undeclared:
        # The labels themselves are not repeated: a rejected value may be data.
        raise EventRejected(
            "undeclared_label",
            f"{len(undeclared)} of the event's labels are not among the labels of "
            f"feed '{feed.id}'; send only labels the feed declared",
        )
    if session.get(Answer, event.annotation_id) is not None:
        raise EventRejected(
            "annotation_exists",
            f"annotation '{event.annotation_id}' was already reported by another event",
        )
    session.add(
        Answer(
            annotation_id=event.annotation_id,
            feed_id=feed.id,
            annotator_id=event.annotator_id,
            input_hash=event.input_hash,
            task_hash=event.task_hash,
            answer=event.answer,
            labels=list(event.labels),
            created_at=_utc(event.created_at),
        )
    )


def _answer_undone(session: Session, project: Project, event: AnswerUndone) -> None:
    feed = _feed_in_project(session, project, event.feed_id)
    answer = session.get(Answer, event.annotation_id)
    if (
        answer is None
        or answer.feed_id != feed.id
        or answer.annotator_id != event.annotator_id
    ):
        raise EventRejected(
            "unknown_annotation",
            f"annotation '{event.annotation_id}' by '{event.annotator_id}' is not "
            f"known in feed '{feed.id}'",
        )
    if answer.undone_at is None:
        answer.undone_at = _utc(event.created_at)


def _store_result(
    session: Session,
    project: Project,
    model: type[AgreementResult] | type[GoldResult],
    event: AgreementComputed | GoldBuilt,
) -> None:
    """Keep the values of the newest event per source; older ones change nothing."""
    if source_project_id(session, event.source_kind, event.source_id) != project.id:
        raise EventRejected(
            "unknown_source",
            f"{event.source_kind} '{event.source_id}' is unknown in project "
            f"'{project.id}'",
        )
    created_at = _utc(event.created_at)
    row = session.get(model, (event.source_kind, event.source_id))
    if row is not None and not _is_newer(created_at, row.computed_at):
        return
    if row is None:
        row = model(source_kind=event.source_kind, source_id=event.source_id)
        session.add(row)
    row.project_id = project.id
    row.event_id = event.event_id
    row.computed_at = created_at
    row.values = event.model_dump(
        mode="json", exclude=ENVELOPE_FIELDS | {"source_kind", "source_id"}
    )


# Field names that an error may repeat. Any other key in an error location
# was made up by the sender and may be data, so it is replaced by "<field>".
_SAFE_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,40}$")
_PROBLEMS = {
    "extra_forbidden": "is not a field of this event kind; events carry only ids, "
    "hashes, answers, label names, numbers and timestamps",
    "missing": "is required",
    "union_tag_invalid": "names an unknown event kind",
    "union_tag_not_found": "needs a 'kind'",
    "json_invalid": "is not valid JSON",
    "string_pattern_mismatch": "does not match the pattern {pattern}",
    "string_too_long": "is longer than {max_length} characters",
    "too_long": "has more than {max_length} items",
    "literal_error": "must be one of {expected}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
}


def describe_validation_errors(errors: list[dict[str, Any]]) -> InvalidInput:
    """Turn pydantic errors into an InvalidInput that names fields, never values."""
    problems = [
        {"field": _field_path(error), "problem": _problem(error)}
        for error in errors[:20]
    ]
    first = problems[0] if problems else {"field": "body", "problem": "is invalid"}
    return InvalidInput(
        f"Invalid event batch: field '{first['field']}' {first['problem']}. "
        "Fix the event on the cluster and send the batch again; nothing from "
        "this batch was stored.",
        details={"fields": problems, "errors": len(errors)},
    )


def _field_path(error: dict[str, Any]) -> str:
    parts = []
    for part in error.get("loc", ()):
        if isinstance(part, int) or _SAFE_FIELD.match(str(part)):
            parts.append(str(part))
        else:
            parts.append("<field>")
    return ".".join(parts)


def _problem(error: dict[str, Any]) -> str:
    template = _PROBLEMS.get(error.get("type", ""))
    if template is None:
        return f"is invalid ({error.get('type', 'unknown error')})"
    context = error.get("ctx") or {}
    try:
        return template.format(**context)
    except (KeyError, IndexError):
        return f"is invalid ({error.get('type')})"


class EventBatchRoute(APIRoute):
    """A route whose body validation errors never repeat the values sent."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def sanitised_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise describe_validation_errors(list(exc.errors())) from None

        return sanitised_handler


router = APIRouter(prefix="/api", tags=["events"], route_class=EventBatchRoute)


@router.post("/events")
def receive_events(
    batch: EventBatch, grant: GrantDep, session: SessionDep
) -> IngestResult:
    """Apply a batch of events from a cluster, each event id once."""
    assert grant.cluster is not None, "POST /api/events needs the cluster level"
    return ingest_batch(session, grant.cluster, batch)
