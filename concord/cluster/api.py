"""The cluster's HTTP API: thin routes over the functions in the domain modules."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from concord.cluster import answers, datasets, feeds, media, progress, quality, routing
from concord.cluster.exports import export_dataset, export_feed, record_export
from concord.cluster.models import Dataset, Feed
from concord.cluster.security import Context, CurrentUser, authorize

# Every route's required level comes from concord.common.permissions.
router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])

JSONL = "application/x-ndjson"


class DatasetCreate(BaseModel):
    name: str


class NextRequest(BaseModel):
    count: int = Field(10, ge=1, le=100)


class SkipRequest(BaseModel):
    task_hash: int


class QualityRequest(BaseModel):
    feed_id: str | None = None
    dataset_id: str | None = None


class GoldRequest(QualityRequest):
    name: str
    min_agreement: float = Field(0.5, ge=0.0, le=1.0)


@router.get("/health", tags=["cluster"])
def health(context: Context) -> dict[str, Any]:
    membership = context.membership
    return {
        "status": "ok",
        "cluster_id": membership.cluster_id if membership else None,
        "joined": membership is not None,
    }


@router.post("/datasets", status_code=status.HTTP_201_CREATED, tags=["datasets"])
def create_dataset(
    body: DatasetCreate, context: Context, principal: CurrentUser
) -> dict[str, Any]:
    dataset = datasets.create_dataset(context, principal, body.name)
    with context.db.sessions() as session:
        return datasets.dataset_to_dict(session, dataset)


@router.get("/datasets", tags=["datasets"])
def list_datasets(context: Context, principal: CurrentUser) -> list[dict[str, Any]]:
    with context.db.sessions() as session:
        rows = session.scalars(
            select(Dataset)
            .where(Dataset.project_id == principal.project_id)
            .order_by(Dataset.created_at)
        )
        return [datasets.dataset_to_dict(session, row) for row in rows]


@router.get("/datasets/{dataset_id}", tags=["datasets"])
def get_dataset(
    dataset_id: str, context: Context, principal: CurrentUser
) -> dict[str, Any]:
    with context.db.sessions() as session:
        dataset = datasets.get_dataset(session, principal, dataset_id)
        return datasets.dataset_to_dict(session, dataset)


@router.post(
    "/datasets/{dataset_id}/import",
    tags=["datasets"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {JSONL: {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def import_dataset(
    dataset_id: str, request: Request, context: Context, principal: CurrentUser
) -> dict[str, Any]:
    """Import JSONL streamed in the request body; all lines or none are stored."""
    result = await datasets.import_stream(
        context, principal, dataset_id, request.stream()
    )
    return result.to_dict()


@router.get("/datasets/{dataset_id}/export", tags=["datasets"])
def export_dataset_route(
    dataset_id: str, context: Context, principal: CurrentUser
) -> StreamingResponse:
    with context.db.sessions() as session:
        dataset = datasets.get_dataset(session, principal, dataset_id)
    record_export(context, principal, "dataset", dataset.id)
    return StreamingResponse(
        export_dataset(context, dataset.id),
        media_type=JSONL,
        headers={"Content-Disposition": f'attachment; filename="{dataset.name}.jsonl"'},
    )


@router.post("/feeds", status_code=status.HTTP_201_CREATED, tags=["feeds"])
def create_feed(
    body: feeds.FeedCreate, context: Context, principal: CurrentUser
) -> dict[str, Any]:
    feed = feeds.create_feed(context, principal, body)
    with context.db.sessions() as session:
        return feeds.feed_to_dict(session, feed)


@router.get("/feeds", tags=["feeds"])
def list_feeds(context: Context, principal: CurrentUser) -> list[dict[str, Any]]:
    with context.db.sessions() as session:
        rows = session.scalars(
            select(Feed)
            .where(Feed.project_id == principal.project_id)
            .order_by(Feed.created_at)
        )
        return [
            feeds.feed_to_dict(session, row)
            for row in rows
            if principal.may_annotate(row.id)
        ]


@router.get("/feeds/{feed_id}", tags=["feeds"])
def get_feed(feed_id: str, context: Context, principal: CurrentUser) -> dict[str, Any]:
    with context.db.sessions() as session:
        return feeds.feed_to_dict(session, feeds.get_feed(session, principal, feed_id))


@router.post("/feeds/{feed_id}/next", tags=["annotate"])
def next_tasks(
    feed_id: str, body: NextRequest, context: Context, principal: CurrentUser
) -> Response:
    with context.db.transaction() as session:
        feed = feeds.get_feed(session, principal, feed_id)
        feeds.check_can_annotate(feed, principal)
        batch = routing.next_batch(session, feed, principal.user_id, body.count, context)
    return json_response(batch_fields(batch))


def batch_fields(batch: routing.Batch) -> dict[str, Any]:
    expires = batch.lease_expires_at
    return {
        "tasks": batch.tasks,
        "lease_expires_at": expires.isoformat() if expires else None,
        "reason": batch.reason,
    }


def json_response(body: dict[str, Any]) -> Response:
    """Encode a large body with orjson, skipping FastAPI's generic encoder.

    Task lists are the biggest bodies the cluster sends and are already plain
    JSON values, so walking them through ``jsonable_encoder`` only costs time.
    """
    return Response(orjson.dumps(body), media_type="application/json")


@router.patch("/feeds/{feed_id}", tags=["feeds"])
def update_feed(
    feed_id: str, body: feeds.FeedUpdate, context: Context, principal: CurrentUser
) -> dict[str, Any]:
    feed = feeds.update_feed(context, principal, feed_id, body)
    with context.db.sessions() as session:
        return feeds.feed_to_dict(session, feed)


@router.post("/feeds/{feed_id}/skip", tags=["annotate"])
def skip(
    feed_id: str, body: SkipRequest, context: Context, principal: CurrentUser
) -> dict[str, Any]:
    with context.db.transaction() as session:
        feed = feeds.get_feed(session, principal, feed_id)
        feeds.check_can_annotate(feed, principal)
        routing.skip_example(session, feed, principal.user_id, body.task_hash)
    return {"skipped": body.task_hash}


@router.post("/feeds/{feed_id}/heartbeat", tags=["annotate"])
def heartbeat(feed_id: str, context: Context, principal: CurrentUser) -> dict[str, Any]:
    with context.db.transaction() as session:
        feed = feeds.get_feed(session, principal, feed_id)
        renewed, expires = routing.renew_leases(session, feed, principal.user_id)
    return {
        "leases": renewed,
        "lease_expires_at": expires.isoformat() if renewed else None,
    }


@router.post("/feeds/{feed_id}/answers", tags=["annotate"])
def submit_answers(
    feed_id: str, body: answers.AnswerBatch, context: Context, principal: CurrentUser
) -> Response:
    result = answers.submit_answers(context, principal, feed_id, body)
    response: dict[str, Any] = {"stored": result.stored, "duplicates": result.duplicates}
    if result.following is not None:
        response.update(batch_fields(result.following))
    return json_response(response)


@router.post("/feeds/{feed_id}/undo", tags=["annotate"])
def undo(feed_id: str, context: Context, principal: CurrentUser) -> dict[str, Any]:
    result = answers.undo_last(context, principal, feed_id)
    undone = None
    if result.answer_id is not None or result.task_hash is not None:
        undone = {"answer_id": result.answer_id, "task_hash": result.task_hash}
    return {"undone": undone, "task": result.task}


@router.get("/feeds/{feed_id}/progress", tags=["annotate"])
def feed_progress(
    feed_id: str, context: Context, principal: CurrentUser
) -> dict[str, Any]:
    with context.db.sessions() as session:
        feed = feeds.get_feed(session, principal, feed_id)
        return progress.feed_progress(session, feed, principal.user_id)


@router.get("/feeds/{feed_id}/media/{task_hash}", tags=["annotate"])
def task_media(
    feed_id: str, task_hash: int, context: Context, principal: CurrentUser
) -> Response:
    """Serve the image of one of the feed's tasks, from its data URI or the media folder."""
    with context.db.sessions() as session:
        feed = feeds.get_feed(session, principal, feed_id)
        image = media.find_task_image(
            session, feed, task_hash, context.settings.media_dir
        )
    return media.image_response(image)


@router.get("/feeds/{feed_id}/export", tags=["feeds"])
def export_feed_route(
    feed_id: str, context: Context, principal: CurrentUser
) -> StreamingResponse:
    with context.db.sessions() as session:
        feed = feeds.get_feed(session, principal, feed_id)
    record_export(context, principal, "feed", feed.id)
    return StreamingResponse(
        export_feed(context, feed.id),
        media_type=JSONL,
        headers={"Content-Disposition": f'attachment; filename="{feed.name}.jsonl"'},
    )


@router.post("/agreement", tags=["quality"])
def agreement(
    body: QualityRequest, context: Context, principal: CurrentUser
) -> dict[str, Any]:
    return quality.compute_agreement(context, principal, body.feed_id, body.dataset_id)


@router.get("/conflicts", tags=["quality"])
def conflicts(
    context: Context,
    principal: CurrentUser,
    feed_id: str | None = None,
    dataset_id: str | None = None,
    min_agreement: float = Query(0.5, ge=0.0, le=1.0),
) -> dict[str, Any]:
    return quality.list_conflicts(
        context, principal, feed_id, dataset_id, min_agreement
    )


@router.post("/gold", tags=["quality"])
def gold(body: GoldRequest, context: Context, principal: CurrentUser) -> dict[str, Any]:
    return quality.build_gold(
        context,
        principal,
        body.feed_id,
        body.dataset_id,
        body.name,
        body.min_agreement,
    )
