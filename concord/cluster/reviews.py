"""Review feeds: the distinct versions annotators gave for one example.

A review feed reads the answers of a source: another feed, or the annotations
imported into a dataset (those stored without a feed). Every example with an
accept or reject answer there becomes a review task. Its ``versions`` group
the annotators' latest answers by content, the most common first and marked
``default``, each listing who gave it, as Prodigy's review recipe does. The
reviewer's record stores the content picked (and edited, where the reviewed
interface allows it), the reviewer's own ``answer``, the ``versions`` shown
and the reviewed ``view_id``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from concord.cluster.datasets import answer_view_id, check_label, labels_of
from concord.cluster.datasets import task_option_ids
from concord.cluster.interfaces import (
    DEFAULT_FIELD_LABEL,
    DEFAULT_MAX_LENGTH,
    INTERFACES_BY_VIEW,
    REVIEWED_INTERFACES,
    TEXT_SPAN_INTERFACES,
    InterfaceSettings,
)
from concord.cluster.models import Annotation, Example, Feed
from concord.cluster.validation import (
    NOTHING_STORED,
    AnswerIn,
    box_record,
    checked_fields,
)
from concord.common.errors import InvalidInput
from concord.common.identifiers import LABEL_PATTERN

if TYPE_CHECKING:
    from concord.cluster.feeds import FeedCreate

logger = logging.getLogger(__name__)

# Reviewed interfaces whose content a reviewer may change before storing it.
# In the others a reviewer picks one version as it is.
EDITABLE_INTERFACES = ("choice", "ner_manual", "spans_manual")
TEXT_SPAN_KEYS = ("start", "end", "token_start", "token_end", "label")


def source_clause(feed: Feed) -> ColumnElement[bool]:
    """Select the annotations a review feed reviews."""
    if feed.source_feed_id:
        return Annotation.feed_id == feed.source_feed_id
    return and_(Annotation.dataset_id == feed.dataset_id, Annotation.feed_id.is_(None))


def has_versions(feed: Feed) -> ColumnElement[bool]:
    """True for the examples a review feed serves: answered in its source."""
    return exists().where(
        Annotation.example_id == Example.id,
        source_clause(feed),
        Annotation.answer != "ignore",
    )


def count_reviewable(session: Session, feed: Feed) -> int:
    query = (
        select(func.count())
        .select_from(Example)
        .where(Example.dataset_id == feed.dataset_id, has_versions(feed))
    )
    return int(session.scalar(query) or 0)


def review_versions(session: Session, feed: Feed, example: Example) -> list[dict[str, Any]]:
    """Group the latest answers to ``example`` in the source into versions, most common first."""
    query = (
        select(Annotation)
        .where(Annotation.example_id == example.id, source_clause(feed))
        .order_by(Annotation.timestamp, Annotation.created_at)
    )
    latest = {row.annotator_id: row for row in session.scalars(query)}
    groups: dict[bytes, dict[str, Any]] = {}
    for annotation in latest.values():
        if annotation.answer == "ignore":
            continue
        content = version_content(feed.reviewed_interface, annotation.record)
        key = orjson.dumps([annotation.answer, content], option=orjson.OPT_SORT_KEYS)
        version = groups.setdefault(
            key,
            {"answer": annotation.answer, **content, "sessions": [], "annotators": []},
        )
        session_id = annotation.record.get("_session_id") or annotation.annotator_name
        version["sessions"].append(str(session_id))
        version["annotators"].append(annotation.annotator_name)
    versions = sorted(groups.values(), key=lambda version: -len(version["annotators"]))
    for position, version in enumerate(versions):
        version["default"] = position == 0
    return versions


def version_content(interface: str | None, record: dict[str, Any]) -> dict[str, Any]:
    """Return the part of an answer that tells versions apart, normalised for comparing."""
    if interface == "choice":
        return {"accept": sorted(str(option) for option in record.get("accept") or [])}
    if interface == "text_input":
        return {"user_input": str(record.get("user_input") or "")}
    spans = [span for span in record.get("spans") or [] if isinstance(span, dict)]
    if interface in TEXT_SPAN_INTERFACES:
        kept = [{key: span[key] for key in TEXT_SPAN_KEYS if key in span} for span in spans]
        return {"spans": sorted(kept, key=_text_span_order)}
    if interface == "image_manual":
        boxes = [_box(span) for span in spans if _is_box(span)]
        return {"spans": sorted(boxes, key=_box_order)}
    return {}


def _text_span_order(span: dict[str, Any]) -> tuple[Any, ...]:
    return (span.get("start", 0), span.get("end", 0), str(span.get("label")))


def _is_box(span: dict[str, Any]) -> bool:
    return all(isinstance(span.get(key), (int, float)) for key in ("x", "y", "width", "height"))


def _box(span: dict[str, Any]) -> dict[str, Any]:
    sides = (span["x"], span["y"], span["width"], span["height"])
    return box_record(str(span.get("label")), *sides)


def _box_order(box: dict[str, Any]) -> tuple[Any, ...]:
    return (box["x"], box["y"], box["width"], box["height"], box["label"])


def checked_review_fields(
    feed: Feed, task: dict[str, Any], answer: AnswerIn, index: int
) -> dict[str, Any]:
    """Check a reviewer's answer against the reviewed interface and the versions."""
    interface = feed.reviewed_interface or "binary"
    versions = task.get("versions") or []
    if not versions:
        raise InvalidInput(
            f"Answer {index}: this example has no versions to review. {NOTHING_STORED}",
            details={"index": index},
        )
    fields = checked_fields(interface, feed, task, answer, index)
    if interface not in EDITABLE_INTERFACES and interface != "binary":
        _check_picked(interface, fields, versions, answer, index)
    return fields


def _check_picked(
    interface: str,
    fields: dict[str, Any],
    versions: list[dict[str, Any]],
    answer: AnswerIn,
    index: int,
) -> None:
    name = "user_input" if interface == "text_input" else "spans"
    if getattr(answer, name) is None:
        if answer.answer != "accept":
            return
        raise InvalidInput(
            f"Answer {index}: an accepted review of {interface} answers must send "
            f"the picked version's {name!r}. {NOTHING_STORED}",
            details={"index": index},
        )
    shown = [version_content(interface, version) for version in versions]
    if version_content(interface, fields) not in shown:
        raise InvalidInput(
            f"Answer {index}: the {name!r} sent matches none of the versions shown; "
            f"a review of {interface} answers picks a version without editing it. "
            f"{NOTHING_STORED}",
            details={"index": index},
        )


def feed_review_settings(spec: FeedCreate, source: Feed) -> InterfaceSettings:
    """Settings of a review of ``source``'s answers: its labels, options and fields."""
    if source.interface == "review":
        raise InvalidInput(
            f"Feed {source.id!r} is itself a review feed; review the feed it reviews."
        )
    if spec.reviewed_interface not in (None, source.interface):
        raise InvalidInput(
            f"Feed {source.id!r} uses the {source.interface} interface, not "
            f"{spec.reviewed_interface}; leave out 'reviewed_interface'."
        )
    extra = [check_label(label) for label in spec.labels]
    return InterfaceSettings(
        dataset_id=source.dataset_id,
        labels=list(dict.fromkeys([*source.labels, *extra])),
        label=source.label,
        options=list(source.options),
        multiple=source.multiple,
        field_label=source.field_label,
        max_length=source.max_length,
        source_feed_id=source.id,
        reviewed_interface=source.interface,
    )


def dataset_review_settings(
    session: Session, spec: FeedCreate, dataset_id: str
) -> InterfaceSettings:
    """Settings of a review of the annotations imported into a dataset."""
    views, found = _imported_answers(session, dataset_id)
    interface = spec.reviewed_interface or _inferred_interface(views, dataset_id)
    given = [*spec.labels, *(option.id for option in spec.options)]
    if spec.label:
        given.append(spec.label)
    labels = list(dict.fromkeys([*given, *found]))
    if interface == "choice" and not spec.options:
        labels = list(dict.fromkeys([*labels, *task_option_ids(session, dataset_id)]))
    text_input = interface == "text_input"
    return InterfaceSettings(
        dataset_id=dataset_id,
        labels=[check_label(label) for label in labels],
        label=spec.label if interface == "binary" else None,
        options=[option.model_dump() for option in spec.options],
        multiple=spec.multiple,
        field_label=(spec.field_label or DEFAULT_FIELD_LABEL) if text_input else None,
        max_length=(spec.max_length or DEFAULT_MAX_LENGTH) if text_input else None,
        reviewed_interface=interface,
    )


def review_labels(session: Session, feed: Feed) -> list[str]:
    """Labels the reviewed answers may carry now, for refreshing the declared set.

    Runs inside an import, so a label the control plane would reject is left
    out with a warning rather than failing the import.
    """
    if feed.source_feed_id:
        source = session.get(Feed, feed.source_feed_id)
        return list(source.labels) if source is not None else []
    _, found = _imported_answers(session, feed.dataset_id)
    if feed.reviewed_interface == "choice" and not feed.options:
        found = [*found, *task_option_ids(session, feed.dataset_id)]
    labels = list(dict.fromkeys(found))
    valid = [label for label in labels if LABEL_PATTERN.fullmatch(label)]
    if len(valid) < len(labels):
        logger.warning(
            "review feed %s: %d imported labels are not valid label names and "
            "were not declared",
            feed.id,
            len(labels) - len(valid),
        )
    return valid


def _imported_answers(session: Session, dataset_id: str) -> tuple[set[Any], list[str]]:
    """Collect the view ids and labels of the answers imported into a dataset."""
    views: set[Any] = set()
    labels: dict[str, None] = {}
    query = select(Annotation.record).where(
        Annotation.dataset_id == dataset_id,
        Annotation.feed_id.is_(None),
        Annotation.answer != "ignore",
    )
    for record in session.scalars(query).yield_per(1000):
        views.add(answer_view_id(record))
        labels.update(dict.fromkeys(labels_of(record)))
    return views, list(labels)


def _inferred_interface(views: set[Any], dataset_id: str) -> str:
    interfaces = {INTERFACES_BY_VIEW.get(view) for view in views}
    if len(interfaces) == 1:
        (interface,) = interfaces
        if interface in REVIEWED_INTERFACES:
            return str(interface)
    if not views:
        raise InvalidInput(
            f"Dataset {dataset_id!r} has no imported answers to review yet; import "
            "annotated records first, or give 'reviewed_interface'."
        )
    raise InvalidInput(
        f"Cannot tell which interface the answers in dataset {dataset_id!r} come "
        f"from (their _view_id values: {sorted(map(str, views))}); give "
        "'reviewed_interface'."
    )
