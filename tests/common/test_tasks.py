"""Task validation and hashes for image boxes next to text spans."""

from __future__ import annotations

import pytest

from concord.common.tasks import TaskError, set_hashes, validate_task

BOX = {"label": "CAR", "x": 10, "y": 20.5, "width": 30, "height": 40}


def test_box_spans_valid() -> None:
    task = {"image": "street.png", "spans": [BOX]}
    assert validate_task(task) is task


@pytest.mark.parametrize(
    ("span", "fragment"),
    [
        ({**BOX, "width": 0}, "positive 'width' and 'height'"),
        ({**BOX, "x": "10"}, "needs numbers 'x', 'y', 'width' and 'height'"),
        ({**BOX, "y": True}, "needs numbers"),
        ({**BOX, "label": 3}, "'label' must be a string"),
    ],
)
def test_bad_box_spans_rejected(span: dict, fragment: str) -> None:
    with pytest.raises(TaskError, match=fragment):
        validate_task({"image": "street.png", "spans": [span]})


def test_task_hash_sees_the_box() -> None:
    first = set_hashes({"image": "street.png", "spans": [BOX]})
    moved = set_hashes({"image": "street.png", "spans": [{**BOX, "x": 11}]})

    assert first["_input_hash"] == moved["_input_hash"]
    assert first["_task_hash"] != moved["_task_hash"]


def test_text_span_hash_unchanged_by_box_keys() -> None:
    # Text spans have none of the box keys, so their hashes stay as before.
    task = set_hashes({"text": "Apple", "spans": [{"start": 0, "end": 5, "label": "ORG"}]})
    assert task["_task_hash"] == set_hashes(
        {"text": "Apple", "spans": [{"start": 0, "end": 5, "label": "ORG", "score": 0.4}]}
    )["_task_hash"]
