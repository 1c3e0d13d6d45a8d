"""Answer checks for spans, text input and image feeds: clear 422s, nothing stored."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.cluster.models import OutboxEvent
from concord.cluster.validation import box_record
from tests.cluster.conftest import ImportFn, Signer
from tests.cluster.pictures import png_bytes

TEXT = "Kofi Annan led the United Nations in New  York.\r\nHe 🕊 spoke."


def jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def make_feed(cluster: TestClient, signer: Signer, import_jsonl: ImportFn,
              records: list[dict[str, Any]], **spec: Any) -> str:
    dataset = import_jsonl(f"{spec['name']}-data", jsonl(*records))
    response = cluster.post(
        "/api/feeds", json={"dataset_id": dataset["id"], **spec}, headers=signer.headers()
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def first_task(cluster: TestClient, signer: Signer, feed: str) -> dict[str, Any]:
    response = cluster.post(
        f"/api/feeds/{feed}/next", json={"count": 1}, headers=signer.headers(role="annotator")
    )
    return response.json()["tasks"][0]


def submit(cluster: TestClient, signer: Signer, feed: str, *bodies: dict[str, Any]):  # noqa: ANN201
    answers = [{"answer_id": uuid.uuid4().hex, "answer": "accept", **body} for body in bodies]
    return cluster.post(
        f"/api/feeds/{feed}/answers",
        json={"answers": answers},
        headers=signer.headers(role="annotator"),
    )


def exported(cluster: TestClient, signer: Signer, feed: str) -> list[dict[str, Any]]:
    response = cluster.get(f"/api/feeds/{feed}/export", headers=signer.headers())
    return [orjson.loads(line) for line in response.content.splitlines()]


def span(part: str, label: str, nth: int = 0) -> dict[str, Any]:
    start = -1
    for _ in range(nth + 1):
        start = TEXT.index(part, start + 1)
    return {"start": start, "end": start + len(part), "label": label}


@pytest.fixture
def spans_feed(cluster, signer, import_jsonl) -> str:
    return make_feed(cluster, signer, import_jsonl, [{"text": TEXT}], name="spans",
                     interface="spans_manual", labels=["PERSON", "ORG", "GPE"])


def test_overlapping_spans_stored(cluster, signer, spans_feed) -> None:
    task = first_task(cluster, signer, spans_feed)
    spans = [span("New  York", "GPE"), span("United Nations", "ORG"),
             span("United Nations in New  York", "ORG"), span("New  York", "ORG")]
    response = submit(cluster, signer, spans_feed, {"task_hash": task["_task_hash"], "spans": spans})

    assert response.status_code == 200, response.text
    record = exported(cluster, signer, spans_feed)[0]
    ids = {token["start"]: token["id"] for token in task["tokens"]}
    ends = {token["end"]: token["id"] for token in task["tokens"]}
    expected = sorted(spans, key=lambda s: (s["start"], s["end"], s["label"]))
    assert record["spans"] == [
        {**s, "token_start": ids[s["start"]], "token_end": ends[s["end"]]} for s in expected
    ]
    assert record["_view_id"] == "spans_manual"


@pytest.mark.parametrize(
    ("spans", "fragment"),
    [
        ([span("Kofi", "PERSON"), span("Kofi", "PERSON")], "the same PERSON span is given twice"),
        ([{"start": 0, "end": 3, "label": "PERSON"}], "token boundaries"),
        ([span("Kofi", "DATE")], "not one of the feed's labels"),
        ([{**span("Kofi", "PERSON"), "text": "Kofi "}], "does not match"),
        ([{"label": "PERSON", "x": 1, "y": 1, "width": 2, "height": 2}], "a box does not apply"),
    ],
)
def test_bad_spans_rejected(cluster, signer, spans_feed, spans, fragment) -> None:
    task = first_task(cluster, signer, spans_feed)
    response = submit(cluster, signer, spans_feed, {"task_hash": task["_task_hash"], "spans": spans})

    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]
    assert "Nothing was stored" in response.json()["error"]["message"]
    assert exported(cluster, signer, spans_feed) == []


@pytest.fixture
def text_feed(cluster, signer, import_jsonl) -> str:
    records = [{"text": "Traduire: bonjour"}, {"text": "Traduire: merci"}]
    return make_feed(cluster, signer, import_jsonl, records, name="translate",
                     interface="text_input", field_label="English", max_length=12)


def test_text_input_stored_without_labels(cluster_app, cluster, signer, text_feed) -> None:
    tasks = cluster.post(f"/api/feeds/{text_feed}/next", json={"count": 2},
                         headers=signer.headers(role="annotator")).json()["tasks"]
    hello = "hello 👋\nyou"
    response = submit(
        cluster, signer, text_feed,
        {"task_hash": tasks[0]["_task_hash"], "user_input": hello},
        {"task_hash": tasks[1]["_task_hash"], "answer": "ignore"},
    )

    assert response.status_code == 200, response.text
    first, second = exported(cluster, signer, text_feed)
    assert (first["user_input"], first["answer"]) == (hello, "accept")
    assert "user_input" not in second
    with cluster_app.state.context.db.sessions() as session:
        payloads = session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.kind == "answer.created")
        ).all()
    assert [payload["labels"] for payload in payloads] == [[], []]
    assert all("hello" not in orjson.dumps(payload).decode() for payload in payloads)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"user_input": "x" * 13}, "13 characters long, over this feed's max_length of 12"),
        ({}, "needs 'user_input'"),
        ({"user_input": "ok", "spans": []}, "'spans' does not apply to text_input answers"),
    ],
)
def test_bad_text_input_rejected(cluster, signer, text_feed, body, fragment) -> None:
    task = first_task(cluster, signer, text_feed)
    response = submit(cluster, signer, text_feed, {"task_hash": task["_task_hash"], **body})

    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]
    assert exported(cluster, signer, text_feed) == []


def test_text_length_counts_code_points(cluster, signer, text_feed) -> None:
    task = first_task(cluster, signer, text_feed)
    twelve_emoji = "🌍" * 12
    response = submit(cluster, signer, text_feed,
                      {"task_hash": task["_task_hash"], "user_input": twelve_emoji})

    assert response.status_code == 200, response.text
    assert exported(cluster, signer, text_feed)[0]["user_input"] == twelve_emoji


@pytest.fixture
def image_feed(cluster, signer, import_jsonl, media_dir: Path) -> str:
    (media_dir / "road.png").write_bytes(png_bytes(200, 100))
    return make_feed(cluster, signer, import_jsonl, [{"image": "road.png"}], name="road",
                     interface="image_manual", labels=["CAR", "BIKE"])


def test_boxes_stored_in_pixels(cluster, signer, image_feed) -> None:
    task = first_task(cluster, signer, image_feed)
    boxes = [
        {"label": "CAR", "x": 0, "y": 0, "width": 200, "height": 100},
        {"label": "BIKE", "x": 10.254, "y": 20.5, "width": 30, "height": 40.25,
         "points": [[0, 0]], "type": "rect"},
    ]
    response = submit(cluster, signer, image_feed, {"task_hash": task["_task_hash"], "spans": boxes})

    assert response.status_code == 200, response.text
    record = exported(cluster, signer, image_feed)[0]
    assert record["spans"] == [
        {"label": "CAR", "x": 0, "y": 0, "width": 200, "height": 100,
         "points": [[0, 0], [0, 100], [200, 100], [200, 0]], "type": "rect"},
        {"label": "BIKE", "x": 10.25, "y": 20.5, "width": 30, "height": 40.25,
         "points": [[10.25, 20.5], [10.25, 60.75], [40.25, 60.75], [40.25, 20.5]],
         "type": "rect"},
    ]
    assert record["spans"][0] == box_record("CAR", 0, 0, 200, 100)
    assert (record["width"], record["height"]) == (200, 100)


@pytest.mark.parametrize(
    ("box", "fragment"),
    [
        ({"label": "CAR", "x": 150, "y": 0, "width": 51, "height": 10}, "within the 200x100 image"),
        ({"label": "CAR", "x": -1, "y": 0, "width": 5, "height": 10}, "within the 200x100 image"),
        ({"label": "CAR", "x": 0, "y": 0, "width": 0, "height": 10}, "must be positive"),
        ({"label": "BUS", "x": 0, "y": 0, "width": 5, "height": 5}, "not one of the feed's labels"),
        ({"label": "CAR", "start": 0, "end": 3}, "a text span does not apply"),
    ],
)
def test_bad_boxes_rejected(cluster, signer, image_feed, box, fragment) -> None:
    task = first_task(cluster, signer, image_feed)
    good = {"label": "CAR", "x": 0, "y": 0, "width": 5, "height": 5}
    response = submit(cluster, signer, image_feed,
                      {"task_hash": task["_task_hash"], "spans": [good, box]})

    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]
    assert exported(cluster, signer, image_feed) == []


def test_boxes_need_a_readable_image(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, [{"image": "gone.png"}], name="gone",
                     interface="image_manual", labels=["CAR"])
    task = first_task(cluster, signer, feed)
    box = {"label": "CAR", "x": 0, "y": 0, "width": 5, "height": 5}

    boxed = submit(cluster, signer, feed, {"task_hash": task["_task_hash"], "spans": [box]})
    empty = submit(cluster, signer, feed, {"task_hash": task["_task_hash"], "answer": "ignore"})

    assert boxed.status_code == 422
    assert "could not be read" in boxed.json()["error"]["message"]
    assert empty.status_code == 200, empty.text


def test_batch_with_one_bad_answer_stores_nothing(cluster, signer, text_feed) -> None:
    tasks = cluster.post(f"/api/feeds/{text_feed}/next", json={"count": 2},
                         headers=signer.headers(role="annotator")).json()["tasks"]
    response = submit(
        cluster, signer, text_feed,
        {"task_hash": tasks[0]["_task_hash"], "user_input": "fine"},
        {"task_hash": tasks[1]["_task_hash"], "user_input": "far too long here"},
    )

    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("Answer 1:")
    assert exported(cluster, signer, text_feed) == []


def test_binary_takes_no_answer_fields(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, [{"text": TEXT}], name="binary",
                     interface="binary", label="PEACE")
    task = first_task(cluster, signer, feed)
    response = submit(cluster, signer, feed, {"task_hash": task["_task_hash"], "accept": ["X"]})

    assert response.status_code == 422
    assert "'accept' does not apply to binary answers" in response.json()["error"]["message"]
