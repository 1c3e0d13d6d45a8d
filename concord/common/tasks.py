"""Task records in Prodigy's format, their content hashes and their validation.

A task is a plain JSON object. The keys Concord reads are ``text``, ``image``,
``html``, ``input`` (the input content), ``tokens``, ``spans``, ``label``,
``options`` (the question), and on annotated records ``answer``, ``accept``,
``_annotator_id``, ``_session_id``, ``_timestamp`` and ``_view_id``. Every other
key (``meta`` among them) is kept as it came.

Hashes are signed integers inside JavaScript's safe range (53 bits), so a
browser can carry them as numbers without losing precision. The input hash is
computed from the input keys and the task hash from the input hash plus the
question keys. Hashes already present on a record are kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

INPUT_KEYS = ("text", "image", "html", "input")
# JavaScript numbers hold integers exactly up to 2**53.
MAX_SAFE_HASH = 2**53
TASK_KEYS = ("spans", "label", "options")
ANSWERS = ("accept", "reject", "ignore")
ANNOTATION_KEYS = (
    "answer",
    "accept",
    "_annotator_id",
    "_session_id",
    "_timestamp",
    "_view_id",
)

# Span keys that describe where the span is and what it is, as opposed to
# model output such as ``score``, ``rank`` or ``source`` that does not change
# the question being asked. Text spans have offsets; image spans have a box.
SPAN_QUESTION_KEYS = (
    "start",
    "end",
    "label",
    "token_start",
    "token_end",
    "x",
    "y",
    "width",
    "height",
    "points",
)
BOX_KEYS = ("x", "y", "width", "height")


class TaskError(ValueError):
    """A record that is not a valid task. The message names the field and the fix."""


def _digest(value: Any) -> int:
    raw = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(raw, digest_size=8).digest()
    # Shift a signed 64-bit value down to 53 bits so JavaScript numbers hold it.
    return int.from_bytes(digest, "big", signed=True) >> 11


def compute_input_hash(task: Mapping[str, Any]) -> int:
    content = {key: task[key] for key in INPUT_KEYS if key in task}
    return _digest(content)


def compute_task_hash(task: Mapping[str, Any], input_hash: int) -> int:
    question: dict[str, Any] = {"_input_hash": input_hash}
    for key in TASK_KEYS:
        if key not in task:
            continue
        if key == "spans":
            question[key] = [
                {k: span[k] for k in SPAN_QUESTION_KEYS if k in span}
                for span in task[key]
                if isinstance(span, Mapping)
            ]
        elif key == "options":
            question[key] = [
                option.get("id") if isinstance(option, Mapping) else option
                for option in task[key]
            ]
        else:
            question[key] = task[key]
    return _digest(question)


def set_hashes(task: dict[str, Any], overwrite: bool = False) -> dict[str, Any]:
    """Add ``_input_hash`` and ``_task_hash`` to ``task`` in place and return it."""
    if overwrite or not isinstance(task.get("_input_hash"), int):
        task["_input_hash"] = compute_input_hash(task)
    if overwrite or not isinstance(task.get("_task_hash"), int):
        task["_task_hash"] = compute_task_hash(task, task["_input_hash"])
    return task


def validate_task(task: Any) -> dict[str, Any]:
    """Check the shape of one record and return it.

    Raises ``TaskError`` with a message that names the key and the expected form.
    """
    if not isinstance(task, dict):
        raise TaskError(
            f"expected a JSON object per line, got {type(task).__name__}"
        )
    if not any(key in task for key in INPUT_KEYS):
        raise TaskError(
            "the record has no input: add a 'text', 'image', 'html' or 'input' key"
        )
    text = task.get("text")
    if "text" in task and not isinstance(text, str):
        raise TaskError(f"'text' must be a string, got {type(text).__name__}")
    for key in ("_input_hash", "_task_hash"):
        if key in task and task[key] is not None:
            _check_hash(key, task[key])
    if "answer" in task and task["answer"] not in ANSWERS:
        raise TaskError(
            f"'answer' must be one of accept, reject, ignore; got {task['answer']!r}"
        )
    if "label" in task and not isinstance(task["label"], str):
        raise TaskError(f"'label' must be a string, got {task['label']!r}")
    if "tokens" in task:
        _validate_tokens(task["tokens"], text)
    if "spans" in task:
        _validate_spans(task["spans"], text, task.get("tokens"))
    if "options" in task:
        _validate_options(task["options"])
    if "accept" in task and not isinstance(task["accept"], list):
        raise TaskError(f"'accept' must be a list of option ids, got {task['accept']!r}")
    return task


def _check_hash(key: str, value: Any) -> None:
    if not _is_int(value):
        raise TaskError(f"'{key}' must be an integer, got {value!r}")
    if not -MAX_SAFE_HASH <= value <= MAX_SAFE_HASH:
        raise TaskError(
            f"'{key}' is {value}, outside +-2**53, which browsers cannot carry "
            "exactly; remove the key and Concord computes a hash"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_tokens(tokens: Any, text: str | None) -> None:
    if not isinstance(tokens, list):
        raise TaskError("'tokens' must be a list of {text, start, end, id} objects")
    for index, token in enumerate(tokens):
        if not isinstance(token, dict):
            raise TaskError(f"token {index} must be an object, got {token!r}")
        start, end = token.get("start"), token.get("end")
        if not (_is_int(start) and _is_int(end)) or not 0 <= start <= end:
            raise TaskError(
                f"token {index} needs integer 'start' <= 'end', got {start!r}, {end!r}"
            )
        if text is not None and end > len(text):
            raise TaskError(
                f"token {index} ends at {end}, past the text's {len(text)} characters"
            )


def _validate_spans(spans: Any, text: str | None, tokens: Any) -> None:
    if not isinstance(spans, list):
        raise TaskError("'spans' must be a list of {start, end, label} objects")
    token_count = len(tokens) if isinstance(tokens, list) else None
    for index, span in enumerate(spans):
        if not isinstance(span, dict):
            raise TaskError(f"span {index} must be an object, got {span!r}")
        if "start" not in span and any(key in span for key in BOX_KEYS):
            _validate_box(index, span)
            continue
        start, end = span.get("start"), span.get("end")
        if not (_is_int(start) and _is_int(end)) or not 0 <= start < end:
            raise TaskError(
                f"span {index} needs integer 'start' < 'end', got {start!r}, {end!r}"
            )
        if text is not None and end > len(text):
            raise TaskError(
                f"span {index} ends at {end}, past the text's {len(text)} characters: "
                "offsets are Unicode code points into 'text'"
            )
        if "label" in span and not isinstance(span["label"], str):
            raise TaskError(f"span {index} 'label' must be a string")
        if text is not None and isinstance(span.get("text"), str):
            if text[start:end] != span["text"]:
                raise TaskError(
                    f"span {index} text {span['text']!r} does not match "
                    f"text[{start}:{end}] = {text[start:end]!r}"
                )
        for key in ("token_start", "token_end"):
            value = span.get(key)
            if value is None:
                continue
            if not _is_int(value) or value < 0:
                raise TaskError(f"span {index} '{key}' must be a non-negative integer")
            if token_count is not None and value >= token_count:
                raise TaskError(
                    f"span {index} '{key}' is {value}, but the task has "
                    f"{token_count} tokens"
                )


def _validate_box(index: int, span: dict[str, Any]) -> None:
    """Check a rectangle on an image: numbers in pixels, a positive size."""
    values = [span.get(key) for key in BOX_KEYS]
    if not all(_is_number(value) for value in values):
        raise TaskError(
            f"span {index} is a box and needs numbers 'x', 'y', 'width' and 'height', "
            f"got {values!r}"
        )
    if values[2] <= 0 or values[3] <= 0:
        raise TaskError(f"span {index} needs a positive 'width' and 'height'")
    if "label" in span and not isinstance(span["label"], str):
        raise TaskError(f"span {index} 'label' must be a string")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate_options(options: Any) -> None:
    if not isinstance(options, list):
        raise TaskError("'options' must be a list of {id, text} objects")
    seen: set[Any] = set()
    for index, option in enumerate(options):
        if not isinstance(option, dict) or "id" not in option:
            raise TaskError(f"option {index} must be an object with an 'id'")
        if option["id"] in seen:
            raise TaskError(f"option id {option['id']!r} appears twice")
        seen.add(option["id"])


def strip_annotation(task: Mapping[str, Any]) -> dict[str, Any]:
    """Return the question part of a record, without one annotator's answer."""
    return {key: value for key, value in task.items() if key not in ANNOTATION_KEYS}


def is_annotated(task: Mapping[str, Any]) -> bool:
    return task.get("answer") in ANSWERS


def texts_of(tasks: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    for task in tasks:
        text = task.get("text")
        if isinstance(text, str):
            yield text
