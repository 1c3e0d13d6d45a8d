"""Feeds: a dataset served to annotators through one interface with an overlap."""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from concord.cluster import slots
from concord.cluster.context import ClusterContext
from concord.cluster.datasets import (
    check_label,
    check_name,
    dataset_counts,
    get_dataset,
    task_option_ids,
    utcnow,
)
from concord.cluster.interfaces import (
    DEFAULT_FIELD_LABEL,
    DEFAULT_MAX_LENGTH,
    USER_INPUT_LIMIT,
    InterfaceSettings,
    ReviewedInterface,
)
from concord.cluster.models import Dataset, Example, Feed
from concord.cluster.outbox import enqueue, new_event_fields
from concord.cluster.reviews import (
    count_reviewable,
    dataset_review_settings,
    feed_review_settings,
    review_labels,
)
from concord.cluster.security import Principal
from concord.common.errors import Conflict, Forbidden, InvalidInput, NotFound
from concord.common.events import FeedCreated, Interface
from concord.common.identifiers import MAX_LABELS, safe_label
from concord.common.permissions import role_meets

logger = logging.getLogger(__name__)

OverlapMode = Literal["number", "full", "partial"]
TaskOrder = Literal["source", "random", "priority"]


class OptionIn(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    text: str = Field("", max_length=2_000)


class FeedCreate(BaseModel):
    dataset_id: str | None = None
    name: str
    interface: Interface
    label: str | None = None
    labels: list[str] = Field(default_factory=list, max_length=200)
    options: list[OptionIn] = Field(default_factory=list, max_length=200)
    multiple: bool = False
    overlap: int = Field(1, ge=1, le=1_000)
    lease_seconds: int = Field(600, ge=5, le=7 * 24 * 3600)
    instructions: str = Field("", max_length=20_000)
    field_label: str | None = Field(None, min_length=1, max_length=200)
    max_length: int | None = Field(None, ge=1, le=USER_INPUT_LIMIT)
    source_feed_id: str | None = None
    reviewed_interface: ReviewedInterface | None = None
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


def declared_labels(session: Session, spec: FeedCreate) -> list[str]:
    """The label names answers in this feed may carry, checked by the control plane."""
    if spec.interface == "binary":
        if not spec.label:
            raise InvalidInput(
                "A binary feed needs a 'label': the one label annotators accept "
                "or reject."
            )
        return [check_label(spec.label)]
    if spec.interface == "text_input":
        if spec.labels:
            raise InvalidInput(
                "A text_input feed takes no 'labels': its answers are free text."
            )
        return []
    if spec.interface in LABELLED_INTERFACES:
        if not spec.labels:
            raise InvalidInput(
                f"A {spec.interface} feed needs 'labels', e.g. [\"ORG\", \"PERSON\"]."
            )
        if len(set(spec.labels)) != len(spec.labels):
            raise InvalidInput(f"Duplicate label in {spec.labels!r}.")
        return [check_label(label) for label in spec.labels]
    if spec.options:
        ids = [option.id for option in spec.options]
        if len(set(ids)) != len(ids):
            raise InvalidInput(f"Duplicate option id in {ids!r}.")
        return [safe_label(option_id) for option_id in ids]
    return _task_option_ids(session, spec.dataset_id or "")


# Interfaces whose feeds declare their label set in 'labels'.
LABELLED_INTERFACES = ("ner_manual", "spans_manual", "image_manual")


def _task_option_ids(session: Session, dataset_id: str) -> list[str]:
    found = task_option_ids(session, dataset_id)
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
    return found


def refresh_task_options(
    context: ClusterContext, session: Session, dataset: Dataset
) -> None:
    """Declare labels that new examples brought to the dataset's feeds.

    Choice feeds without options of their own take each task's options, and
    review feeds take the labels of the answers they review. The control plane
    accepts only label names a feed declared, so the feed is announced again
    with the larger set.
    """
    feeds = session.scalars(
        select(Feed).where(Feed.dataset_id == dataset.id).order_by(Feed.created_at)
    )
    for feed in feeds:
        if feed.interface == "review":
            found = review_labels(session, feed)
        elif feed.interface == "choice" and not feed.options:
            found = task_option_ids(session, dataset.id)
        else:
            continue
        added = [label for label in found if label not in feed.labels]
        if added:
            feed.labels = [*feed.labels, *added]
            enqueue(session, _feed_event(context, feed, feed_example_count(session, feed)))


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
    check_overlap_settings(spec.overlap_mode, spec.overlap, spec.partial_fraction)
    if spec.seed is not None and spec.order != "random":
        raise InvalidInput(
            f"'seed' applies only to order 'random', not {spec.order!r}; remove it "
            "or set order to 'random'.",
            details={"order": spec.order},
        )
    try:
        with context.db.transaction() as session:
            settings = feed_settings(session, principal, spec)
            feed = Feed(
                id=uuid.uuid4().hex,
                project_id=principal.project_id,
                name=spec.name,
                interface=spec.interface,
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
                **asdict(settings),
            )
            session.add(feed)
            session.flush()
            slots.add_feed_slots(session, feed)
            examples = feed_example_count(session, feed)
            enqueue(session, _feed_event(context, feed, examples, principal.user_id))
    except IntegrityError:
        raise Conflict(
            f"A feed named {spec.name!r} already exists in this project; choose "
            "another name.",
            details={"name": spec.name},
        ) from None
    context.outbox_ready.set()
    logger.info(
        "created %s feed %s on dataset %s", feed.interface, feed.id, feed.dataset_id
    )
    return feed


def feed_settings(
    session: Session, principal: Principal, spec: FeedCreate
) -> InterfaceSettings:
    """Resolve and check what the new feed serves, raising on a contradiction."""
    if spec.interface == "review":
        settings = _review_settings(session, principal, spec)
    else:
        settings = _plain_settings(session, principal, spec)
    shown = settings.reviewed_interface or spec.interface
    if spec.multiple and shown != "choice":
        raise InvalidInput("'multiple' applies only to choice feeds and their reviews.")
    if shown != "text_input" and (spec.field_label or spec.max_length):
        raise InvalidInput(
            "'field_label' and 'max_length' apply only to text_input feeds and "
            "their reviews."
        )
    return settings


def _plain_settings(
    session: Session, principal: Principal, spec: FeedCreate
) -> InterfaceSettings:
    for name in ("source_feed_id", "reviewed_interface"):
        if getattr(spec, name) is not None:
            raise InvalidInput(f"'{name}' applies only to review feeds.")
    if not spec.dataset_id:
        raise InvalidInput(
            f"A {spec.interface} feed needs 'dataset_id': the dataset whose examples "
            "it serves."
        )
    dataset = get_dataset(session, principal, spec.dataset_id)
    text_input = spec.interface == "text_input"
    return InterfaceSettings(
        dataset_id=dataset.id,
        labels=declared_labels(session, spec),
        label=spec.label if spec.interface == "binary" else None,
        options=[option.model_dump() for option in spec.options],
        multiple=spec.multiple,
        field_label=(spec.field_label or DEFAULT_FIELD_LABEL) if text_input else None,
        max_length=(spec.max_length or DEFAULT_MAX_LENGTH) if text_input else None,
    )


def _review_settings(
    session: Session, principal: Principal, spec: FeedCreate
) -> InterfaceSettings:
    if spec.source_feed_id is None:
        if not spec.dataset_id:
            raise InvalidInput(
                "A review feed needs 'source_feed_id' (the feed whose answers it "
                "reviews) or 'dataset_id' (a dataset whose imported annotations it "
                "reviews)."
            )
        dataset = get_dataset(session, principal, spec.dataset_id)
        return dataset_review_settings(session, spec, dataset.id)
    source = get_feed(session, principal, spec.source_feed_id)
    if spec.dataset_id not in (None, source.dataset_id):
        raise InvalidInput(
            f"Feed {source.id!r} serves dataset {source.dataset_id!r}, not "
            f"{spec.dataset_id!r}; leave out 'dataset_id' when giving 'source_feed_id'."
        )
    return feed_review_settings(spec, source)


def check_can_annotate(feed: Feed, principal: Principal) -> None:
    """Reject annotators in review feeds: reviewing needs the reviewer role."""
    if feed.interface == "review" and not role_meets(principal.role, "reviewer"):
        raise Forbidden(
            f"Feed {feed.id!r} is a review feed, which needs the reviewer or "
            f"manager role; you are {principal.role}."
        )


def get_feed(session: Session, principal: Principal, feed_id: str) -> Feed:
    feed = session.get(Feed, feed_id)
    if feed is None or feed.project_id != principal.project_id:
        raise NotFound(
            f"Feed {feed_id!r} not found in this project; list feeds with "
            "GET /api/feeds.",
            details={"feed_id": feed_id},
        )
    return feed


def feed_example_count(session: Session, feed: Feed) -> int:
    """Count the examples the feed serves; a review serves those answered in its source."""
    if feed.interface == "review":
        return count_reviewable(session, feed)
    examples, _ = dataset_counts(session, feed.dataset_id)
    return examples


def feed_to_dict(session: Session, feed: Feed) -> dict[str, Any]:
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
        "field_label": feed.field_label,
        "max_length": feed.max_length,
        "source_feed_id": feed.source_feed_id,
        "reviewed_interface": feed.reviewed_interface,
        "overlap_mode": feed.overlap_mode,
        "partial_fraction": (
            feed.partial_fraction if feed.overlap_mode == "partial" else None
        ),
        "order": feed.order,
        "seed": feed.seed if feed.order == "random" else None,
        "quota": feed.quota,
        "exclude_seen_in_other_feeds": feed.exclude_seen_in_other_feeds,
        "examples": feed_example_count(session, feed),
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
        overlap_changed = (mode, overlap, fraction or 0.0) != (
            feed.overlap_mode,
            feed.overlap,
            feed.partial_fraction,
        )
        feed.overlap_mode = mode
        feed.overlap = overlap
        feed.partial_fraction = fraction or 0.0
        if overlap_changed:
            slots.reset_needed(session, feed)
        if "quota" in change.model_fields_set:
            # 0 or null removes the quota.
            feed.quota = change.quota or None
        if change.lease_seconds is not None:
            feed.lease_seconds = change.lease_seconds
        enqueue(session, _feed_event(context, feed, feed_example_count(session, feed)))
    context.outbox_ready.set()
    logger.info(
        "feed %s now has overlap %s (%s), quota %s", feed.id, overlap, mode, feed.quota
    )
    return feed
