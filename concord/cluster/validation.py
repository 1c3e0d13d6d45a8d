"""Answers as clients send them, and their checks against the feed's interface.

Each check raises ``InvalidInput`` naming the answer's position in the batch,
the value at fault and the fix, and returns the fields to store on the
record. Offsets are Python code points into the task's ``text``; box
coordinates are pixels of the image, from its top-left corner.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Discriminator, Field, Tag

from concord.cluster.interfaces import ANSWER_FIELDS, DEFAULT_MAX_LENGTH, USER_INPUT_LIMIT
from concord.cluster.models import Feed
from concord.common.errors import InvalidInput

NOTHING_STORED = "Nothing was stored."


class SpanIn(BaseModel):
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    label: str = Field(min_length=1, max_length=64)
    text: str | None = None


class BoxIn(BaseModel):
    """A rectangle on an image. Clients may send ``points`` too; they are recomputed."""

    label: str = Field(min_length=1, max_length=64)
    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)
    width: float = Field(allow_inf_nan=False)
    height: float = Field(allow_inf_nan=False)


def _span_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "box" if "x" in value or "width" in value else "text"
    return "box" if isinstance(value, BoxIn) else "text"


Span = Annotated[
    Union[Annotated[SpanIn, Tag("text")], Annotated[BoxIn, Tag("box")]],
    Discriminator(_span_kind),
]


class AnswerIn(BaseModel):
    answer_id: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    task_hash: int = Field(ge=-(2**53), le=2**53)
    answer: Literal["accept", "reject", "ignore"]
    accept: list[str] | None = Field(None, max_length=200)
    spans: list[Span] | None = Field(None, max_length=5_000)
    user_input: str | None = Field(None, max_length=USER_INPUT_LIMIT)


class AnswerBatch(BaseModel):
    answers: list[AnswerIn] = Field(min_length=1, max_length=500)
    # Ask for this many next tasks in the same request, as POST .../next would
    # return them after the answers are stored.
    next: int | None = Field(None, ge=1, le=100)


def checked_fields(
    interface: str, feed: Feed, task: dict[str, Any], answer: AnswerIn, index: int
) -> dict[str, Any]:
    """Check the answer's fields for ``interface`` and return those to store."""
    reject_foreign_fields(interface, answer, index)
    if interface == "choice":
        return {"accept": checked_choice(feed, task, answer, index)}
    if interface in ("ner_manual", "spans_manual"):
        overlaps = interface == "spans_manual"
        return {"spans": checked_text_spans(feed, task, answer, index, overlaps)}
    if interface == "text_input":
        return checked_user_input(feed, answer, index)
    if interface == "image_manual":
        return {"spans": checked_boxes(feed, task, answer, index)}
    return {}


def reject_foreign_fields(interface: str, answer: AnswerIn, index: int) -> None:
    allowed = ANSWER_FIELDS[interface]
    for name in ("accept", "spans", "user_input"):
        if getattr(answer, name) is not None and name not in allowed:
            takes = ", ".join(repr(field) for field in allowed) or "no fields"
            raise InvalidInput(
                f"Answer {index}: {name!r} does not apply to {interface} answers, "
                f"which take {takes} besides 'answer'. {NOTHING_STORED}",
                details={"index": index, "field": name},
            )


def checked_choice(
    feed: Feed, task: dict[str, Any], answer: AnswerIn, index: int
) -> list[str]:
    chosen = answer.accept or []
    if answer.answer == "accept" and not chosen:
        raise InvalidInput(
            f"Answer {index}: accepting a choice task needs at least one option in "
            f"'accept'; choose one, or reject or ignore the task. {NOTHING_STORED}",
            details={"index": index},
        )
    valid = {str(option.get("id")) for option in task.get("options") or []}
    unknown = [option for option in chosen if option not in valid]
    if unknown:
        raise InvalidInput(
            f"Answer {index}: option {unknown[0]!r} is not an option of this task; "
            f"choose from {sorted(valid)}. {NOTHING_STORED}",
            details={"index": index, "option": unknown[0]},
        )
    if len(set(chosen)) != len(chosen):
        raise InvalidInput(f"Answer {index}: an option is chosen twice in {chosen!r}.")
    if not feed.multiple and len(chosen) > 1:
        raise InvalidInput(
            f"Answer {index}: this feed takes a single choice, got {len(chosen)} "
            f"options. {NOTHING_STORED}",
            details={"index": index},
        )
    return chosen


def checked_text_spans(
    feed: Feed, task: dict[str, Any], answer: AnswerIn, index: int, overlaps: bool
) -> list[dict[str, Any]]:
    """Check token-snapped spans; ``overlaps`` allows overlapping spans but not twins."""
    text: str = task.get("text") or ""
    tokens = task.get("tokens") or []
    starts = {token["start"]: token.get("id", n) for n, token in enumerate(tokens)}
    ends = {token["end"]: token.get("id", n) for n, token in enumerate(tokens)}
    given = list(enumerate(answer.spans or []))
    spans: list[dict[str, Any]] = []
    for number, span in sorted(given, key=lambda item: _text_span_key(item[1])):
        if not isinstance(span, SpanIn):
            raise InvalidInput(
                f"Answer {index}, span {number}: a box does not apply here; this "
                f"feed takes text spans with 'start', 'end' and 'label'. {NOTHING_STORED}",
                details={"index": index, "span": number},
            )
        where = f"Answer {index}, span {number} ({span.start}-{span.end})"
        _check_text_span(feed, text, span, where, index, number)
        if span.start not in starts or span.end not in ends:
            raise InvalidInput(
                f"{where}: a span must start and end on token boundaries; snap it "
                f"to whole tokens. {NOTHING_STORED}",
                details={"index": index, "span": number},
            )
        _check_neighbour(spans, span, where, overlaps, index, number)
        spans.append(
            {
                "start": span.start,
                "end": span.end,
                "token_start": starts[span.start],
                "token_end": ends[span.end],
                "label": span.label,
            }
        )
    return spans


def _text_span_key(span: SpanIn | BoxIn) -> tuple[int, int, str]:
    if isinstance(span, SpanIn):
        return (span.start, span.end, span.label)
    return (-1, -1, span.label)


def _check_text_span(
    feed: Feed, text: str, span: SpanIn, where: str, index: int, number: int
) -> None:
    details = {"index": index, "span": number}
    if span.end <= span.start or span.end > len(text):
        raise InvalidInput(
            f"{where}: offsets must satisfy 0 <= start < end <= {len(text)} "
            f"(code points into the text). {NOTHING_STORED}",
            details=details,
        )
    if span.label not in feed.labels:
        raise InvalidInput(
            f"{where}: label {span.label!r} is not one of the feed's labels "
            f"{feed.labels}. {NOTHING_STORED}",
            details={**details, "label": span.label},
        )
    if span.text is not None and span.text != text[span.start : span.end]:
        raise InvalidInput(
            f"{where}: span text {span.text!r} does not match the task text "
            f"at those offsets. {NOTHING_STORED}",
            details=details,
        )


def _check_neighbour(
    spans: list[dict[str, Any]],
    span: SpanIn,
    where: str,
    overlaps: bool,
    index: int,
    number: int,
) -> None:
    """Compare ``span`` with the one before it in (start, end, label) order."""
    if not spans:
        return
    previous = spans[-1]
    details = {"index": index, "span": number}
    if not overlaps and span.start < previous["end"]:
        raise InvalidInput(
            f"{where}: spans overlap; remove one of them. {NOTHING_STORED}",
            details=details,
        )
    twin = (previous["start"], previous["end"], previous["label"])
    if twin == (span.start, span.end, span.label):
        raise InvalidInput(
            f"{where}: the same {span.label} span is given twice; send it once. "
            f"{NOTHING_STORED}",
            details=details,
        )


def checked_user_input(feed: Feed, answer: AnswerIn, index: int) -> dict[str, Any]:
    text = answer.user_input
    if text is None:
        if answer.answer != "accept":
            return {}
        raise InvalidInput(
            f"Answer {index}: an accepted text_input answer needs 'user_input', the "
            f"text typed (it may be empty). {NOTHING_STORED}",
            details={"index": index},
        )
    limit = feed.max_length or DEFAULT_MAX_LENGTH
    if len(text) > limit:
        raise InvalidInput(
            f"Answer {index}: 'user_input' is {len(text)} characters long, over "
            f"this feed's max_length of {limit}; shorten it. {NOTHING_STORED}",
            details={"index": index, "length": len(text), "max_length": limit},
        )
    return {"user_input": text}


def checked_boxes(
    feed: Feed, task: dict[str, Any], answer: AnswerIn, index: int
) -> list[dict[str, Any]]:
    boxes = answer.spans or []
    width, height = task.get("width"), task.get("height")
    if boxes and not (isinstance(width, int) and isinstance(height, int)):
        raise InvalidInput(
            f"Answer {index}: the size of this task's image is unknown because the "
            "image could not be read, so its boxes cannot be checked. Fix the "
            f"task's image, or answer without boxes. {NOTHING_STORED}",
            details={"index": index},
        )
    stored = []
    for number, box in enumerate(boxes):
        if not isinstance(box, BoxIn):
            raise InvalidInput(
                f"Answer {index}, span {number}: a text span does not apply here; "
                "this feed takes boxes with 'x', 'y', 'width', 'height' and "
                f"'label'. {NOTHING_STORED}",
                details={"index": index, "span": number},
            )
        stored.append(_checked_box(feed, box, (width, height), index, number))  # type: ignore[arg-type]
    return stored


def _checked_box(
    feed: Feed, box: BoxIn, size: tuple[int, int], index: int, number: int
) -> dict[str, Any]:
    x, y, w, h = (_pixels(value) for value in (box.x, box.y, box.width, box.height))
    where = f"Answer {index}, box {number} (x {x}, y {y}, {w}x{h})"
    details = {"index": index, "span": number}
    if box.label not in feed.labels:
        raise InvalidInput(
            f"{where}: label {box.label!r} is not one of the feed's labels "
            f"{feed.labels}. {NOTHING_STORED}",
            details={**details, "label": box.label},
        )
    if w <= 0 or h <= 0:
        raise InvalidInput(
            f"{where}: width and height must be positive. {NOTHING_STORED}",
            details=details,
        )
    if x < 0 or y < 0 or x + w > size[0] or y + h > size[1]:
        raise InvalidInput(
            f"{where}: the box must lie within the {size[0]}x{size[1]} image, in "
            f"pixels from its top-left corner. {NOTHING_STORED}",
            details=details,
        )
    return box_record(box.label, x, y, w, h)


def _pixels(value: float) -> int | float:
    rounded = round(float(value), 2)
    return int(rounded) if rounded.is_integer() else rounded


def box_record(
    label: str, x: int | float, y: int | float, w: int | float, h: int | float
) -> dict[str, Any]:
    """Return a rectangle in the form Prodigy's image interface stores.

    ``points`` lists the corners from the top-left one down the left edge:
    top-left, bottom-left, bottom-right, top-right.
    """
    right, bottom = _pixels(x + w), _pixels(y + h)
    return {
        "label": label,
        "x": x,
        "y": y,
        "width": w,
        "height": h,
        "points": [[x, y], [x, bottom], [right, bottom], [right, y]],
        "type": "rect",
    }
