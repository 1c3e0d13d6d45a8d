"""Agreement, conflicts and gold sets, computed where the annotations are.

Each annotation becomes a nominal rating of its task: the answer for binary
classification, the sorted chosen option ids for choice, the sorted
``(start, end, label)`` spans for manual NER and spans, the sorted boxes for
images and the exact text for text input. The conventions (latest answer
wins, ignore is missing, items with fewer than two ratings are left out) live in
``concord.common.agreement``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any, Hashable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from concord.cluster import slots
from concord.cluster.context import ClusterContext
from concord.cluster.datasets import (
    MANUAL_VIEWS,
    answer_view_id,
    check_name,
    get_dataset,
    labels_of,
    utcnow,
)
from concord.cluster.feeds import get_feed
from concord.cluster.models import Annotation, Dataset, Example
from concord.cluster.outbox import enqueue, new_event_fields
from concord.cluster.security import Principal
from concord.common import agreement
from concord.common.errors import Conflict, InvalidInput
from concord.common.events import (
    AgreementComputed,
    AnnotatorAgreement,
    DatasetCreated,
    GoldBuilt,
)
from concord.common.identifiers import safe_id

logger = logging.getLogger(__name__)

GOLD_ANNOTATOR = "gold"


@dataclass(frozen=True)
class Source:
    """The annotations one quality computation reads: a feed's or a dataset's."""

    kind: str
    id: str
    dataset_id: str
    project_id: str


def resolve_source(
    session: Session,
    principal: Principal,
    feed_id: str | None,
    dataset_id: str | None,
) -> Source:
    if (feed_id is None) == (dataset_id is None):
        raise InvalidInput("Give exactly one of 'feed_id' or 'dataset_id'.")
    if feed_id is not None:
        feed = get_feed(session, principal, feed_id)
        return Source("feed", feed.id, feed.dataset_id, feed.project_id)
    assert dataset_id is not None
    dataset = get_dataset(session, principal, dataset_id)
    return Source("dataset", dataset.id, dataset.id, dataset.project_id)


def rating_value(record: dict[str, Any]) -> Hashable:
    """Return the nominal category of a record, as the module docstring describes."""
    if record.get("answer") != "accept":
        return record.get("answer")
    if isinstance(record.get("accept"), list):
        return ("choice",) + tuple(sorted(str(option) for option in record["accept"]))
    view = answer_view_id(record)
    spans = record.get("spans") or []
    if view == "image_manual":
        return ("boxes",) + tuple(sorted(_box_value(span) for span in spans))
    if view in MANUAL_VIEWS:
        return ("spans",) + tuple(
            sorted((span["start"], span["end"], str(span.get("label"))) for span in spans)
        )
    if view == "text_input":
        return ("text", str(record.get("user_input") or ""))
    return "accept"


def _box_value(span: dict[str, Any]) -> tuple[Any, ...]:
    sides = tuple(span.get(key) for key in ("x", "y", "width", "height"))
    return (*sides, str(span.get("label")))


def _annotations(session: Session, source: Source):  # noqa: ANN202
    query = select(Annotation, Example.task_hash).join(
        Example, Example.id == Annotation.example_id
    )
    if source.kind == "feed":
        query = query.where(Annotation.feed_id == source.id)
    else:
        query = query.where(
            Annotation.dataset_id == source.dataset_id, Annotation.feed_id.is_(None)
        )
    return session.execute(query.order_by(Annotation.created_at)).yield_per(2000)


def load_ratings(
    session: Session,
    source: Source,
    names: dict[str, str] | None = None,
    latest: dict[tuple[Any, str], Annotation] | None = None,
) -> list[agreement.Rating]:
    """Ratings of the source's annotations.

    Fills ``names`` with annotator names and ``latest`` with the newest
    annotation per (task hash, annotator) by timestamp, when given.
    """
    ratings = []
    for order, (annotation, task_hash) in enumerate(_annotations(session, source)):
        if names is not None:
            names[annotation.annotator_id] = annotation.annotator_name
        if latest is not None:
            key = (task_hash, annotation.annotator_id)
            previous = latest.get(key)
            if previous is None or annotation.timestamp >= previous.timestamp:
                latest[key] = annotation
        ratings.append(
            agreement.Rating(
                item=task_hash,
                annotator=annotation.annotator_id,
                value=rating_value(annotation.record),
                answer=annotation.answer,
                timestamp=annotation.timestamp or None,
                order=order,
            )
        )
    return ratings


def compute_agreement(
    context: ClusterContext,
    principal: Principal,
    feed_id: str | None,
    dataset_id: str | None,
) -> dict[str, Any]:
    with context.db.transaction() as session:
        source = resolve_source(session, principal, feed_id, dataset_id)
        names: dict[str, str] = {}
        report = agreement.agreement_report(load_ratings(session, source, names))
        result = report.to_dict()
        enqueue(session, _agreement_event(context, source, result))
    for row in result["per_annotator"]:
        row["annotator_name"] = names.get(row["annotator_id"], row["annotator_id"])
    context.outbox_ready.set()
    result["source_kind"] = source.kind
    result["source_id"] = source.id
    logger.info("computed agreement for %s %s", source.kind, source.id)
    return result


def _agreement_event(
    context: ClusterContext, source: Source, result: dict[str, Any]
) -> AgreementComputed:
    return AgreementComputed(
        **new_event_fields(context, source.project_id),
        source_kind=source.kind,
        source_id=source.id,
        items=result["items"],
        items_excluded=result["items_excluded"],
        annotators=result["annotators"],
        ratings=result["ratings"],
        percent_agreement=result["percent_agreement"],
        krippendorff_alpha=result["krippendorff_alpha"],
        cohen_kappa=result["cohen_kappa"],
        per_annotator=[
            AnnotatorAgreement(
                annotator_id=safe_id(str(row["annotator_id"])),
                items=row["items"],
                percent_agreement=row["percent_agreement"],
                cohen_kappa=row["cohen_kappa"],
            )
            for row in result["per_annotator"]
        ],
    )


def _check_threshold(min_agreement: float) -> None:
    if not 0.0 <= min_agreement <= 1.0:
        raise InvalidInput(
            f"min_agreement must be between 0 and 1, got {min_agreement}.",
            details={"min_agreement": min_agreement},
        )


def _vote(
    session: Session, source: Source, min_agreement: float
) -> tuple[agreement.VoteResult, dict[tuple[Any, str], Annotation]]:
    """Majority votes, plus each annotator's latest annotation per task hash."""
    _check_threshold(min_agreement)
    latest: dict[tuple[Any, str], Annotation] = {}
    ratings = load_ratings(session, source, latest=latest)
    return agreement.majority_vote(ratings, min_agreement=min_agreement), latest


def list_conflicts(
    context: ClusterContext,
    principal: Principal,
    feed_id: str | None,
    dataset_id: str | None,
    min_agreement: float,
) -> dict[str, Any]:
    with context.db.sessions() as session:
        source = resolve_source(session, principal, feed_id, dataset_id)
        votes, latest = _vote(session, source, min_agreement)
        names = {key[1]: row.annotator_name for key, row in latest.items()}
        input_hashes = _input_hashes(session, source.dataset_id)
    conflicts = [
        {
            "input_hash": input_hashes.get(item.item),
            "task_hash": item.item,
            "answers": [
                {
                    "value": _jsonable(value),
                    "annotators": sorted(names.get(a, a) for a in annotators),
                }
                for value, annotators in (
                    (vote.value, vote.annotators) for vote in item.votes
                )
            ],
        }
        for item in votes.conflicts
    ]
    return {"count": len(conflicts), "conflicts": conflicts}


def _input_hashes(session: Session, dataset_id: str) -> dict[int, int]:
    rows = session.execute(
        select(Example.task_hash, Example.input_hash).where(
            Example.dataset_id == dataset_id
        )
    )
    return {task_hash: input_hash for task_hash, input_hash in rows}


def _jsonable(value: Hashable) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(part) for part in value]
    return value


def build_gold(
    context: ClusterContext,
    principal: Principal,
    feed_id: str | None,
    dataset_id: str | None,
    name: str,
    min_agreement: float,
) -> dict[str, Any]:
    """Write the majority answers that reach ``min_agreement`` to a gold dataset.

    Building again under the same name replaces that gold dataset's contents.
    """
    check_name(name, "dataset")
    with context.db.transaction() as session:
        source = resolve_source(session, principal, feed_id, dataset_id)
        votes, latest = _vote(session, source, min_agreement)
        gold = _gold_dataset(context, session, principal, name, source.dataset_id)
        winners = 0
        for item in votes.gold:
            record = _winning_record(latest, item)
            _add_gold_example(session, gold, source, item.item, record)
            winners += 1
        # A feed may serve the gold dataset; its slots follow the new examples.
        slots.add_dataset_slots(session, gold.id)
        enqueue(
            session,
            GoldBuilt(
                **new_event_fields(context, source.project_id),
                source_kind=source.kind,
                source_id=source.id,
                gold_dataset_id=gold.id,
                min_agreement=min_agreement,
                items=len(votes.items),
                gold_items=winners,
                conflicts=len(votes.conflicts),
            ),
        )
        dataset = {"id": gold.id, "name": gold.name, "role": gold.role}
    context.outbox_ready.set()
    logger.info("built gold dataset %s with %d items", dataset["id"], winners)
    return {
        "dataset": dataset,
        "items": len(votes.items),
        "gold_items": winners,
        "conflicts": len(votes.conflicts),
        "items_all_ignored": votes.items_all_ignored,
    }


def _gold_dataset(
    context: ClusterContext,
    session: Session,
    principal: Principal,
    name: str,
    source_dataset_id: str,
) -> Dataset:
    existing = session.scalar(
        select(Dataset).where(
            Dataset.project_id == principal.project_id, Dataset.name == name
        )
    )
    if existing is not None:
        if existing.role != "gold":
            raise Conflict(
                f"Dataset {name!r} exists and is not a gold dataset; choose another "
                "name for the gold set.",
                details={"name": name},
            )
        if existing.id == source_dataset_id:
            raise Conflict(
                f"Gold dataset {name!r} is the dataset these answers come from, and "
                "rebuilding it would delete them; choose another name for the gold set.",
                details={"name": name},
            )
        # NOTE: a feed serving this gold dataset loses its answers here, and the
        # control plane is not told (no answer.undone events), so its counts drift.
        session.execute(delete(Annotation).where(Annotation.dataset_id == existing.id))
        session.execute(delete(Example).where(Example.dataset_id == existing.id))
        return existing
    gold = Dataset(
        id=uuid.uuid4().hex,
        project_id=principal.project_id,
        name=name,
        role="gold",
        created_at=utcnow(),
    )
    session.add(gold)
    session.flush()
    enqueue(
        session,
        DatasetCreated(
            **new_event_fields(context, principal.project_id),
            dataset_id=gold.id,
            name=name,
            role="gold",
        ),
    )
    return gold


def _winning_record(
    latest: dict[tuple[Any, str], Annotation], item: agreement.ItemVote
) -> dict[str, Any]:
    """Pick the newest record among those that gave the winning value."""
    winners = next(vote for vote in item.votes if vote.value == item.winner)
    candidates = [
        row
        for row in (latest[(item.item, annotator)] for annotator in winners.annotators)
        if rating_value(row.record) == item.winner
    ]
    chosen = max(candidates, key=lambda row: (row.timestamp, row.created_at))
    return dict(chosen.record)


def _add_gold_example(
    session: Session,
    gold: Dataset,
    source: Source,
    task_hash: int,
    record: dict[str, Any],
) -> None:
    source_example = session.scalar(
        select(Example).where(
            Example.dataset_id == source.dataset_id, Example.task_hash == task_hash
        )
    )
    assert source_example is not None
    example = Example(
        dataset_id=gold.id,
        position=source_example.position,
        input_hash=source_example.input_hash,
        task_hash=task_hash,
        task=source_example.task,
    )
    session.add(example)
    session.flush()
    record["_annotator_id"] = GOLD_ANNOTATOR
    record["_session_id"] = f"{gold.name}-{GOLD_ANNOTATOR}"
    session.add(
        Annotation(
            id=uuid.uuid4().hex,
            dataset_id=gold.id,
            example_id=example.id,
            feed_id=None,
            annotator_id=GOLD_ANNOTATOR,
            annotator_name=GOLD_ANNOTATOR,
            answer_id=None,
            import_key=None,
            answer=record.get("answer", "accept"),
            labels=labels_of(record),
            record=record,
            timestamp=int(record.get("_timestamp") or 0),
            created_at=utcnow(),
        )
    )
