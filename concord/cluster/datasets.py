"""Datasets: creating them and importing JSONL into them.

An import runs in two passes. The first streams the request body to a
temporary file while parsing and validating every line, so a bad line fails the
import before anything is written. The second reads the file back and inserts
everything in one transaction. Memory stays bounded by the batch size whatever
the file size, and a failed import leaves the database as it was.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import uuid
from collections.abc import AsyncIterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from starlette.concurrency import run_in_threadpool
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from concord.cluster import slots
from concord.cluster.context import ClusterContext
from concord.cluster.models import Annotation, Dataset, Example
from concord.cluster.outbox import enqueue, new_event_fields
from concord.cluster.security import Principal
from concord.common.errors import Conflict, InvalidInput, NotFound
from concord.common.events import DatasetCreated, DatasetImported
from concord.common.formats.jsonl import (
    JsonlError,
    asplit_lines,
    iter_file_chunks,
    parse_line,
    read_jsonl,
)
from concord.common.tasks import (
    TaskError,
    is_annotated,
    set_hashes,
    strip_annotation,
    validate_task,
)
from concord.common.identifiers import LABEL_PATTERN, NAME_PATTERN, safe_id, safe_label

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000
# Views whose ``spans`` are the annotator's answer rather than part of the question.
MANUAL_VIEWS = ("ner_manual", "spans_manual", "image_manual")
# Keys that only an annotated record has: free text typed by its annotator and
# what a review recorded. The question given to the next annotator leaves them out.
ANSWER_ONLY_KEYS = ("user_input", "versions", "view_id")


@dataclass
class ImportResult:
    dataset_id: str
    lines: int = 0
    examples_added: int = 0
    examples_existing: int = 0
    annotations_added: int = 0
    annotations_existing: int = 0
    annotators: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def utcnow() -> datetime:
    return datetime.now(UTC)


def check_name(name: str, what: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"Invalid {what} name {name!r}: use 1 to 64 letters, digits, '_', '-' "
            "or '.'.",
            details={"name": name},
        )
    return name


def check_label(label: str) -> str:
    if not LABEL_PATTERN.fullmatch(label):
        raise InvalidInput(
            f"Invalid label {label!r}: use 1 to 64 letters, digits, '_', '-', '.', "
            "':' or '/'.",
            details={"label": label},
        )
    return label


def create_dataset(
    context: ClusterContext, principal: Principal, name: str, role: str = "source"
) -> Dataset:
    check_name(name, "dataset")
    dataset = Dataset(
        id=uuid.uuid4().hex,
        project_id=principal.project_id,
        name=name,
        role=role,
        created_at=utcnow(),
    )
    try:
        with context.db.transaction() as session:
            session.add(dataset)
            session.flush()
            enqueue(
                session,
                DatasetCreated(
                    **new_event_fields(context, principal.project_id),
                    dataset_id=dataset.id,
                    name=name,
                    role=role,
                ),
            )
    except IntegrityError:
        raise Conflict(
            f"A dataset named {name!r} already exists in this project; choose "
            "another name or import into the existing one.",
            details={"name": name},
        ) from None
    context.outbox_ready.set()
    logger.info("created dataset %s in project %s", dataset.id, dataset.project_id)
    return dataset


def get_dataset(session: Session, principal: Principal, dataset_id: str) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.project_id != principal.project_id:
        raise NotFound(
            f"Dataset {dataset_id!r} not found in this project; list datasets with "
            "GET /api/datasets.",
            details={"dataset_id": dataset_id},
        )
    return dataset


def dataset_counts(session: Session, dataset_id: str) -> tuple[int, int]:
    examples = session.scalar(
        select(func.count()).select_from(Example).where(Example.dataset_id == dataset_id)
    )
    annotations = session.scalar(
        select(func.count())
        .select_from(Annotation)
        .where(Annotation.dataset_id == dataset_id)
    )
    return int(examples or 0), int(annotations or 0)


def dataset_to_dict(session: Session, dataset: Dataset) -> dict[str, Any]:
    examples, annotations = dataset_counts(session, dataset.id)
    return {
        "id": dataset.id,
        "project_id": dataset.project_id,
        "name": dataset.name,
        "role": dataset.role,
        "examples": examples,
        "annotations": annotations,
        "created_at": dataset.created_at.isoformat(),
    }


def split_record(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Split one record into its question and, if annotated, the annotation."""
    question = strip_annotation(record)
    if is_annotated(record):
        if answer_view_id(record) in MANUAL_VIEWS:
            question.pop("spans", None)
        for key in ANSWER_ONLY_KEYS:
            question.pop(key, None)
    for key in ("_input_hash", "_task_hash"):
        if isinstance(record.get(key), int):
            question[key] = record[key]
    set_hashes(question)
    if not is_annotated(record):
        return question, None
    annotation = dict(record)
    annotation["_input_hash"] = question["_input_hash"]
    annotation["_task_hash"] = question["_task_hash"]
    return question, annotation


async def spool_and_validate(
    body: AsyncIterable[bytes], max_line_bytes: int, spool: BinaryIO
) -> int:
    """Copy the body to ``spool``, checking every line. Returns the line count."""
    lines = 0
    async for line_number, raw in asplit_lines(body, max_line_bytes):
        lines = line_number
        record = parse_line(line_number, raw)
        if record is None:
            continue
        try:
            split_record(validate_task(record))
        except TaskError as exc:
            raise JsonlError(line_number, str(exc)) from None
        spool.write(raw.strip() + b"\n")
    return lines


async def import_stream(
    context: ClusterContext,
    principal: Principal,
    dataset_id: str,
    body: AsyncIterable[bytes],
) -> ImportResult:
    with context.db.sessions() as session:
        dataset = get_dataset(session, principal, dataset_id)
    with tempfile.TemporaryFile(prefix="concord-import-") as spool:
        lines = await spool_and_validate(
            body, context.settings.max_import_line_bytes, spool
        )
        spool.seek(0)
        # The database pass is blocking work; a worker thread keeps the event
        # loop serving annotators meanwhile.
        result = await run_in_threadpool(write_import, context, dataset, spool)
    result.lines = lines
    context.outbox_ready.set()
    logger.info(
        "imported %d lines into dataset %s: %d examples and %d annotations added",
        lines,
        dataset.id,
        result.examples_added,
        result.annotations_added,
    )
    return result


def write_import(
    context: ClusterContext, dataset: Dataset, spool: BinaryIO
) -> ImportResult:
    result = ImportResult(dataset_id=dataset.id)
    annotators: set[str] = set()
    with context.db.transaction() as session:
        position = session.scalar(
            select(func.coalesce(func.max(Example.position), -1)).where(
                Example.dataset_id == dataset.id
            )
        )
        next_position = int(position) + 1
        for batch in _batches(read_jsonl(iter_file_chunks(spool))):
            next_position = _write_batch(
                session, dataset, batch, next_position, result, annotators
            )
        examples_total, _ = dataset_counts(session, dataset.id)
        result.annotators = sorted(annotators)
        if result.examples_added:
            # Imported here to avoid a cycle: feeds imports this module.
            from concord.cluster.feeds import refresh_task_options

            refresh_task_options(context, session, dataset)
            slots.add_dataset_slots(session, dataset.id)
        enqueue(
            session,
            DatasetImported(
                **new_event_fields(context, dataset.project_id),
                dataset_id=dataset.id,
                examples_added=result.examples_added,
                annotations_added=result.annotations_added,
                examples_total=examples_total,
                annotators=[safe_id(name) for name in result.annotators][:10_000],
            ),
        )
    return result


def _batches(
    records: Iterator[tuple[int, Any]],
) -> Iterator[list[tuple[dict[str, Any], dict[str, Any] | None]]]:
    batch: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for _line, record in records:
        batch.append(split_record(record))
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = []
    if batch:
        yield batch


def _write_batch(
    session: Session,
    dataset: Dataset,
    batch: list[tuple[dict[str, Any], dict[str, Any] | None]],
    next_position: int,
    result: ImportResult,
    annotators: set[str],
) -> int:
    """Insert one batch with a few bulk statements; returns the next position."""
    example_ids = _existing_example_ids(session, dataset, batch)
    new_examples: dict[int, dict[str, Any]] = {}
    for question, annotation in batch:
        task_hash = question["_task_hash"]
        if task_hash in example_ids or task_hash in new_examples:
            if annotation is None:
                result.examples_existing += 1
            continue
        new_examples[task_hash] = {
            "dataset_id": dataset.id,
            "position": next_position,
            "input_hash": question["_input_hash"],
            "task_hash": task_hash,
            "task": question,
        }
        next_position += 1
    if new_examples:
        session.execute(insert(Example), list(new_examples.values()))
        result.examples_added += len(new_examples)
        example_ids.update(_existing_example_ids(session, dataset, batch))
    records = [annotation for _, annotation in batch if annotation is not None]
    if records:
        _insert_annotations(session, dataset, records, example_ids, result, annotators)
    return next_position


def _existing_example_ids(
    session: Session,
    dataset: Dataset,
    batch: list[tuple[dict[str, Any], dict[str, Any] | None]],
) -> dict[int, int]:
    hashes = {question["_task_hash"] for question, _ in batch}
    rows = session.execute(
        select(Example.task_hash, Example.id).where(
            Example.dataset_id == dataset.id, Example.task_hash.in_(hashes)
        )
    )
    return {task_hash: example_id for task_hash, example_id in rows}


def _import_key(record: dict[str, Any]) -> str:
    raw = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def _insert_annotations(
    session: Session,
    dataset: Dataset,
    records: list[dict[str, Any]],
    example_ids: dict[int, int],
    result: ImportResult,
    annotators: set[str],
) -> None:
    """Store imported answers, skipping records already stored byte for byte."""
    keyed = {_import_key(record): record for record in records}
    result.annotations_existing += len(records) - len(keyed)
    existing = set(
        session.scalars(
            select(Annotation.import_key).where(
                Annotation.dataset_id == dataset.id,
                Annotation.import_key.in_(list(keyed)),
            )
        )
    )
    result.annotations_existing += len(existing)
    rows = []
    now = utcnow()
    for import_key, record in keyed.items():
        if import_key in existing:
            continue
        annotator = str(
            record.get("_annotator_id") or record.get("_session_id") or "unknown"
        )
        annotators.add(annotator)
        timestamp = record.get("_timestamp")
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "dataset_id": dataset.id,
                "example_id": example_ids[record["_task_hash"]],
                "feed_id": None,
                "annotator_id": annotator,
                "annotator_name": annotator,
                "answer_id": None,
                "import_key": import_key,
                "answer": record["answer"],
                "labels": labels_of(record),
                "record": record,
                "timestamp": int(timestamp) if isinstance(timestamp, (int, float)) else 0,
                "created_at": now,
            }
        )
    if rows:
        session.execute(insert(Annotation), rows)
        result.annotations_added += len(rows)


def task_option_ids(session: Session, dataset_id: str) -> list[str]:
    """Return the option ids the dataset's tasks carry, in order of first appearance.

    An id that is not a plain label name is given as its hash, the form the
    control plane receives it in.
    """
    found: dict[str, None] = {}
    for task in session.scalars(
        select(Example.task).where(Example.dataset_id == dataset_id)
    ).yield_per(1000):
        for option in task.get("options") or []:
            found[safe_label(str(option.get("id")))] = None
    return list(found)


def answer_view_id(record: dict[str, Any]) -> Any:
    """The view whose answer a record holds; a review's record holds the reviewed one."""
    view = record.get("_view_id")
    if view == "review" and isinstance(record.get("view_id"), str):
        return record["view_id"]
    return view


def labels_of(record: dict[str, Any]) -> list[str]:
    """The label names an answer chose: its options, span labels or its label.

    A text input answer chooses none: its text must never leave the cluster.
    """
    view = answer_view_id(record)
    if view == "text_input":
        return []
    if isinstance(record.get("accept"), list):
        return [safe_label(str(option)) for option in record["accept"]]
    spans = record.get("spans")
    if isinstance(spans, list) and view in MANUAL_VIEWS:
        return sorted({str(span.get("label")) for span in spans if span.get("label")})
    if isinstance(record.get("label"), str):
        return [record["label"]]
    return []


