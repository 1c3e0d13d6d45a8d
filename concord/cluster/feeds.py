"""Feeds: a dataset served to annotators through one interface with an overlap."""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from concord.cluster.context import ClusterContext
from concord.cluster.datasets import check_name, dataset_counts, get_dataset, utcnow
from concord.cluster.models import Dataset, Example, Feed
from concord.cluster.outbox import enqueue, new_event_fields
from concord.cluster.security import Principal
from concord.common.errors import Conflict, InvalidInput, NotFound
from concord.common.events import FeedCreated
from concord.common.identifiers import LABEL_PATTERN, MAX_LABELS, safe_label

logger = logging.getLogger(__name__)

VIEW_IDS = {"binary": "classification", "choice": "choice", "ner_manual": "ner_manual"}
OverlapMode = Literal["number", "full", "partial"]
TaskOrder = Literal["source", "random", "priority"]


class OptionIn(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    text: str = Field("", max_length=2_000)


class FeedCreate(BaseModel):
    dataset_id: str
    name: str
    interface: Literal["binary", "choice", "ner_manual"]
    label: str | None = None
    labels: list[str] = Field(default_factory=list, max_length=200)
    options: list[OptionIn] = Field(default_factory=list, max_length=200)
    multiple: bool = False
    overlap: int = Field(1, ge=1, le=1_000)
    lease_seconds: int = Field(600, ge=5, le=7 * 24 * 3600)
    instructions: str = Field("", max_length=20_000)
    # Routing settings; docs/routing.md defines each one.
    overlap_mode: OverlapMode = "number"
    partial_fraction: float | None = Field(None, ge=0.0, le=1.0)
    order: TaskOrder = "source"
    seed: int | None = Field(None, ge=0, le=2**53)
    quota: int | None = Field(None, ge=1, le=10_000_000)
    exclude_seen_in_other_feeds: bool = False


class FeedUpdate(BaseModel):
    """The settings of a running feed that a manager may change; absent fields stay."""

    overlap: int | None = Field(None, ge=1, le=1_000)
    overlap_mode: OverlapMode | None = None
    partial_fraction: float | None = Field(None, ge=0.0, le=1.0)
    quota: int | None = Field(None, ge=0, le=10_000_000)
    lease_seconds: int | None = Field(None, ge=5, le=7 * 24 * 3600)


def _check_label(label: str) -> str:
    if not LABEL_PATTERN.fullmatch(label):
        raise InvalidInput(
            f"Invalid label {label!r}: use 1 to 64 letters, digits, '_', '-', '.', "
            "':' or '/'.",
            details={"label": label},
        )
    return label


def declared_labels(session: Session, spec: FeedCreate) -> list[str]:
    """The label names answers in this feed may carry, checked by the control plane."""
    if spec.interface == "binary":
        if not spec.label:
            raise InvalidInput(
                "A binary feed needs a 'label': the one label annotators accept "
                "or reject."
            )
        return [_check_label(spec.label)]
    if spec.interface == "ner_manual":
        if not spec.labels:
            raise InvalidInput("A ner_manual feed needs 'labels', e.g. [\"ORG\", \"PERSON\"].")
        if len(set(spec.labels)) != len(spec.labels):
            raise InvalidInput(f"Duplicate label in {spec.labels!r}.")
        return [_check_label(label) for label in spec.labels]
    if spec.options:
        ids = [option.id for option in spec.options]
        if len(set(ids)) != len(ids):
            raise InvalidInput(f"Duplicate option id in {ids!r}.")
        return [safe_label(option_id) for option_id in ids]
    return _task_option_ids(session, spec.dataset_id)


def _task_option_ids(session: Session, dataset_id: str) -> list[str]:
    found: dict[str, None] = {}
    for task in session.scalars(
        select(Example.task).where(Example.dataset_id == dataset_id)
    ).yield_per(1000):
        for option in task.get("options") or []:
            found[str(option.get("id"))] = None
    if not found:
        raise InvalidInput(
            "A choice feed needs 'options', or a dataset whose tasks carry their "
            "own 'options'; this dataset's tasks have none."
        )
    if len(found) > MAX_LABELS:
        raise InvalidInput(
            f"The dataset's tasks carry {len(found)} distinct option ids, more than "
            f"the {MAX_LABELS} a feed can declare; split the dataset.",
            details={"options": len(found)},
        )
    return [safe_label(option_id) for option_id in found]


def refresh_task_options(
    context: ClusterContext, session: Session, dataset: Dataset
) -> None:
    """Declare option ids that new tasks brought to choice feeds using task options.

    The control plane accepts only label names a feed declared, so the feed is
    announced again with the larger set.
    """
    feeds = session.scalars(
        select(Feed).where(Feed.dataset_id == dataset.id, Feed.interface == "choice")
    )
    stale = [feed for feed in feeds if not feed.options]
    if not stale:
        return
    option_ids = _task_option_ids(session, dataset.id)
    examples, _ = dataset_counts(session, dataset.id)
    for feed in stale:
        added = [option for option in option_ids if option not in feed.labels]
        if not added:
            continue
        feed.labels = [*feed.labels, *added]
        enqueue(session, _feed_event(context, feed, examples))


def _feed_event(
    context: ClusterContext, feed: Feed, examples: int, actor_id: str | None = None
) -> FeedCreated:
    return FeedCreated(
        **new_event_fields(context, feed.project_id),
        feed_id=feed.id,
        dataset_id=feed.dataset_id,
        name=feed.name,
        interface=feed.interface,  # type: ignore[arg-type]
        labels=feed.labels,
        multiple=feed.multiple,
        overlap=feed.overlap,
        lease_seconds=feed.lease_seconds,
        examples_total=examples,
        actor_id=actor_id,
    )


def check_overlap_settings(mode: str, overlap: int, fraction: float | None) -> None:
    if mode == "partial" and fraction is None:
        raise InvalidInput(
            "overlap_mode 'partial' needs 'partial_fraction', the share of examples "
            "(0 to 1) that get 'overlap' annotators, e.g. 0.2.",
            details={"overlap_mode": mode},
        )
    if mode == "partial" and overlap < 2:
        raise InvalidInput(
            f"overlap_mode 'partial' with overlap {overlap} gives every example one "
            "annotator; set 'overlap' to 2 or more.",
            details={"overlap": overlap},
        )
    if mode != "partial" and fraction is not None:
        raise InvalidInput(
            f"'partial_fraction' applies only to overlap_mode 'partial', not {mode!r}; "
            "remove it or set overlap_mode to 'partial'.",
            details={"overlap_mode": mode},
        )


def create_feed(context: ClusterContext, principal: Principal, spec: FeedCreate) -> Feed:
    check_name(spec.name, "feed")
    if spec.interface != "choice" and spec.multiple:
        raise InvalidInput("'multiple' applies only to choice feeds.")
    check_overlap_settings(spec.overlap_mode, spec.overlap, spec.partial_fraction)
    if spec.seed is not None and spec.order != "random":
        raise InvalidInput(
            f"'seed' applies only to order 'random', not {spec.order!r}; remove it "
            "or set order to 'random'.",
            details={"order": spec.order},
        )
    try:
        with context.db.transaction() as session:
            dataset = get_dataset(session, principal, spec.dataset_id)
            labels = declared_labels(session, spec)
            feed = Feed(
                id=uuid.uuid4().hex,
                project_id=principal.project_id,
                dataset_id=dataset.id,
                name=spec.name,
                interface=spec.interface,
                label=spec.label if spec.interface == "binary" else None,
                labels=labels,
                options=[option.model_dump() for option in spec.options],
                multiple=spec.multiple,
                overlap=spec.overlap,
                lease_seconds=spec.lease_seconds,
                instructions=spec.instructions,
                created_at=utcnow(),
                overlap_mode=spec.overlap_mode,
                partial_fraction=spec.partial_fraction or 0.0,
                order=spec.order,
                # A random order without a seed still repeats: the drawn seed is stored.
                seed=spec.seed if spec.seed is not None else secrets.randbelow(2**31),
                quota=spec.quota,
                exclude_seen_in_other_feeds=spec.exclude_seen_in_other_feeds,
            )
            session.add(feed)
            session.flush()
            examples, _ = dataset_counts(session, dataset.id)
            enqueue(session, _feed_event(context, feed, examples, principal.user_id))
    except IntegrityError:
        raise Conflict(
            f"A feed named {spec.name!r} already exists in this project; choose "
            "another name.",
            details={"name": spec.name},
        ) from None
    context.outbox_ready.set()
    logger.info("created %s feed %s on dataset %s", feed.interface, feed.id, dataset.id)
    return feed


def get_feed(session: Session, principal: Principal, feed_id: str) -> Feed:
    feed = session.get(Feed, feed_id)
    if feed is None or feed.project_id != principal.project_id:
        raise NotFound(
            f"Feed {feed_id!r} not found in this project; list feeds with "
            "GET /api/feeds.",
            details={"feed_id": feed_id},
        )
    return feed


def feed_to_dict(session: Session, feed: Feed) -> dict[str, Any]:
    examples, _ = dataset_counts(session, feed.dataset_id)
    return {
        "id": feed.id,
        "project_id": feed.project_id,
        "dataset_id": feed.dataset_id,
        "name": feed.name,
        "interface": feed.interface,
        "label": feed.label,
        "labels": feed.labels,
        "options": feed.options,
        "multiple": feed.multiple,
        "overlap": feed.overlap,
        "lease_seconds": feed.lease_seconds,
        "instructions": feed.instructions,
        "overlap_mode": feed.overlap_mode,
        "partial_fraction": (
            feed.partial_fraction if feed.overlap_mode == "partial" else None
        ),
        "order": feed.order,
        "seed": feed.seed if feed.order == "random" else None,
        "quota": feed.quota,
        "exclude_seen_in_other_feeds": feed.exclude_seen_in_other_feeds,
        "examples": examples,
        "created_at": feed.created_at.isoformat(),
    }


def update_feed(
    context: ClusterContext, principal: Principal, feed_id: str, change: FeedUpdate
) -> Feed:
    """Change the overlap, quota or lease length of a running feed.

    Leases already handed out stay valid, so lowering the overlap can leave an
    example with more answers than the new overlap, but never more than the
    leases out at the time of the change allow. The control plane gets the
    feed again with the new overlap.
    """
    with context.db.transaction() as session:
        feed = get_feed(session, principal, feed_id)
        mode = change.overlap_mode or feed.overlap_mode
        overlap = change.overlap or feed.overlap
        fraction = change.partial_fraction
        if fraction is None and mode == "partial" and feed.overlap_mode == "partial":
            fraction = feed.partial_fraction
        check_overlap_settings(mode, overlap, fraction)
        feed.overlap_mode = mode
        feed.overlap = overlap
        feed.partial_fraction = fraction or 0.0
        if "quota" in change.model_fields_set:
            # 0 or null removes the quota.
            feed.quota = change.quota or None
        if change.lease_seconds is not None:
            feed.lease_seconds = change.lease_seconds
        examples, _ = dataset_counts(session, feed.dataset_id)
        enqueue(session, _feed_event(context, feed, examples))
    context.outbox_ready.set()
    logger.info(
        "feed %s now has overlap %s (%s), quota %s", feed.id, overlap, mode, feed.quota
    )
    return feed
