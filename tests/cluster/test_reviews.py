"""Review feeds: sources, versions, who may review, and what a review stores."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from tests.cluster.conftest import ImportFn, Signer
from tests.cluster.pictures import png_bytes

TEXT = "Marie Curie worked in Paris."


def jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


def create(cluster: TestClient, signer: Signer, **spec: Any):  # noqa: ANN201
    return cluster.post("/api/feeds", json=spec, headers=signer.headers())


def answer_all(cluster: TestClient, signer: Signer, feed: str, user: str,
               text: str | None = None, **fields: Any) -> None:
    """Answer every task of ``feed`` as ``user``, or only those showing ``text``."""
    headers = signer.headers(role="annotator", user=user, name=user)
    tasks = cluster.post(f"/api/feeds/{feed}/next", json={"count": 50}, headers=headers)
    assert tasks.status_code == 200, tasks.text
    answers = [
        {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"], "answer": "accept",
         **fields}
        for task in tasks.json()["tasks"]
        if text is None or task.get("text") == text
    ]
    stored = cluster.post(f"/api/feeds/{feed}/answers", json={"answers": answers},
                          headers=headers)
    assert stored.status_code == 200, stored.text


def reviewer_tasks(cluster: TestClient, signer: Signer, feed: str) -> list[dict[str, Any]]:
    response = cluster.post(f"/api/feeds/{feed}/next", json={"count": 50},
                            headers=signer.headers(role="reviewer", user="rita", name="rita"))
    assert response.status_code == 200, response.text
    return response.json()["tasks"]


def spans(*parts: tuple[str, str]) -> list[dict[str, Any]]:
    found = []
    for part, label in parts:
        start = TEXT.index(part)
        found.append({"start": start, "end": start + len(part), "label": label})
    return found


@pytest.fixture
def ner_source(cluster, signer, import_jsonl) -> str:
    dataset = import_jsonl("science", jsonl({"text": TEXT}, {"text": "Nobody here."}))
    response = create(cluster, signer, dataset_id=dataset["id"], name="sci",
                      interface="ner_manual", labels=["PERSON", "GPE"], overlap=4)
    return response.json()["id"]


def test_versions_group_latest_answers(cluster, signer, ner_source) -> None:
    both = spans(("Marie Curie", "PERSON"), ("Paris", "GPE"))
    answer_all(cluster, signer, ner_source, "ann", TEXT, spans=both)
    answer_all(cluster, signer, ner_source, "ben", TEXT, spans=spans(("Marie Curie", "PERSON")))
    answer_all(cluster, signer, ner_source, "cat", TEXT, spans=both)
    answer_all(cluster, signer, ner_source, "dan", answer="ignore")
    review = create(cluster, signer, name="sci-review", interface="review",
                    source_feed_id=ner_source).json()

    assert (review["reviewed_interface"], review["labels"]) == ("ner_manual", ["PERSON", "GPE"])
    assert review["examples"] == 1
    task = reviewer_tasks(cluster, signer, review["id"])[0]
    assert task["view_id"] == "ner_manual"
    assert task["_view_id"] == "review"
    assert [(v["annotators"], v["default"], len(v["spans"])) for v in task["versions"]] == [
        (["ann", "cat"], True, 2),
        (["ben"], False, 1),
    ]
    assert task["versions"][0]["sessions"] == ["sci-ann", "sci-cat"]


def test_annotators_cannot_review(cluster, signer, ner_source) -> None:
    answer_all(cluster, signer, ner_source, "ann", TEXT)
    review = create(cluster, signer, name="sci-review", interface="review",
                    source_feed_id=ner_source).json()

    response = cluster.post(f"/api/feeds/{review['id']}/next", json={"count": 1},
                            headers=signer.headers(role="annotator", user="ann"))

    assert response.status_code == 403
    assert "review feed" in response.json()["error"]["message"]


def test_review_of_review_rejected(cluster, signer, ner_source) -> None:
    review = create(cluster, signer, name="r1", interface="review", source_feed_id=ner_source)
    again = create(cluster, signer, name="r2", interface="review",
                   source_feed_id=review.json()["id"])

    assert again.status_code == 422
    assert "is itself a review feed" in again.json()["error"]["message"]


def test_review_needs_a_source(cluster, signer) -> None:
    response = create(cluster, signer, name="r", interface="review")

    assert response.status_code == 422
    assert "needs 'source_feed_id'" in response.json()["error"]["message"]


def test_review_edits_spans_with_feed_labels(cluster, signer, ner_source) -> None:
    answer_all(cluster, signer, ner_source, "ann", TEXT, spans=spans(("Paris", "GPE")))
    review = create(cluster, signer, name="sci-review", interface="review",
                    source_feed_id=ner_source).json()
    task = reviewer_tasks(cluster, signer, review["id"])[0]
    headers = signer.headers(role="reviewer", user="rita", name="rita")

    def send(body_spans: list[dict[str, Any]]):  # noqa: ANN202
        body = {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"],
                "answer": "accept", "spans": body_spans}
        return cluster.post(f"/api/feeds/{review['id']}/answers",
                            json={"answers": [body]}, headers=headers)

    unknown = send(spans(("Paris", "CITY")))
    edited = send(spans(("Marie Curie", "PERSON"), ("Paris", "GPE")))

    assert unknown.status_code == 422
    assert "not one of the feed's labels" in unknown.json()["error"]["message"]
    assert edited.status_code == 200, edited.text
    record = orjson.loads(cluster.get(f"/api/feeds/{review['id']}/export",
                                      headers=signer.headers()).content)
    paris = TEXT.index("Paris")
    assert [(s["start"], s["end"], s["label"]) for s in record["spans"]] == [
        (0, 11, "PERSON"), (paris, paris + 5, "GPE"),
    ]
    assert record["versions"][0]["annotators"] == ["ann"]


@pytest.fixture
def text_review(cluster, signer, import_jsonl) -> tuple[str, dict[str, Any]]:
    dataset = import_jsonl("fr", jsonl({"text": "Merci"}))
    source = create(cluster, signer, dataset_id=dataset["id"], name="fr",
                    interface="text_input", overlap=2).json()["id"]
    answer_all(cluster, signer, source, "ann", user_input="Thanks")
    answer_all(cluster, signer, source, "ben", user_input="Thank you")
    review = create(cluster, signer, name="fr-review", interface="review",
                    source_feed_id=source).json()["id"]
    return review, reviewer_tasks(cluster, signer, review)[0]


@pytest.mark.parametrize(
    ("fields", "status", "fragment"),
    [
        ({"user_input": "Thank you"}, 200, None),
        ({"user_input": "Thanks a lot"}, 422, "matches none of the versions"),
        ({}, 422, "needs 'user_input'"),
        ({"answer": "reject"}, 200, None),
    ],
)
def test_text_review_picks_a_version(cluster, signer, text_review, fields, status, fragment) -> None:
    review, task = text_review
    body = {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"], "answer": "accept",
            **fields}
    response = cluster.post(f"/api/feeds/{review}/answers", json={"answers": [body]},
                            headers=signer.headers(role="reviewer", user="rita"))

    assert response.status_code == status, response.text
    if fragment:
        assert fragment in response.json()["error"]["message"]


def test_image_review_picks_boxes(cluster, signer, import_jsonl, media_dir) -> None:
    (media_dir / "dog.png").write_bytes(png_bytes(100, 80))
    dataset = import_jsonl("dogs", jsonl({"image": "dog.png"}))
    source = create(cluster, signer, dataset_id=dataset["id"], name="dogs",
                    interface="image_manual", labels=["DOG"], overlap=2).json()["id"]
    box = {"label": "DOG", "x": 10, "y": 10, "width": 50, "height": 40}
    answer_all(cluster, signer, source, "ann", spans=[box])
    answer_all(cluster, signer, source, "ben", spans=[{**box, "width": 60}])
    review = create(cluster, signer, name="dogs-review", interface="review",
                    source_feed_id=source).json()["id"]
    task = reviewer_tasks(cluster, signer, review)[0]
    headers = signer.headers(role="reviewer", user="rita")

    def send(boxes: list[dict[str, Any]]):  # noqa: ANN202
        body = {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"],
                "answer": "accept", "spans": boxes}
        return cluster.post(f"/api/feeds/{review}/answers", json={"answers": [body]},
                            headers=headers)

    moved = send([{**box, "x": 11}])
    picked = send([{**box, "width": 60}])

    assert moved.status_code == 422
    assert "matches none of the versions" in moved.json()["error"]["message"]
    assert picked.status_code == 200, picked.text


def test_dataset_review_infers_interface(cluster, signer, import_jsonl) -> None:
    annotated = [
        {"text": "pick", "options": [{"id": "X"}, {"id": "Y"}], "accept": ["X"],
         "answer": "accept", "_view_id": "choice", "_annotator_id": "ann"},
        {"text": "pick", "options": [{"id": "X"}, {"id": "Y"}], "accept": ["Y"],
         "answer": "accept", "_view_id": "choice", "_annotator_id": "ben"},
    ]
    dataset = import_jsonl("imported", jsonl(*annotated))
    review = create(cluster, signer, name="imported-review", interface="review",
                    dataset_id=dataset["id"])

    assert review.status_code == 201, review.text
    assert review.json()["reviewed_interface"] == "choice"
    assert review.json()["labels"] == ["X", "Y"]
    task = reviewer_tasks(cluster, signer, review.json()["id"])[0]
    assert [v["accept"] for v in task["versions"]] == [["X"], ["Y"]]
    assert [v["annotators"] for v in task["versions"]] == [["ann"], ["ben"]]


def test_dataset_review_without_answers(cluster, signer, import_jsonl) -> None:
    dataset = import_jsonl("plain", jsonl({"text": "nothing yet"}))
    inferred = create(cluster, signer, name="r1", interface="review", dataset_id=dataset["id"])
    given = create(cluster, signer, name="r2", interface="review", dataset_id=dataset["id"],
                   reviewed_interface="binary", label="OK")

    assert inferred.status_code == 422
    assert "no imported answers to review" in inferred.json()["error"]["message"]
    assert given.status_code == 201, given.text
    assert given.json()["examples"] == 0


def test_import_declares_new_review_labels(cluster, signer, import_jsonl) -> None:
    def choice(option: str, options: str, annotator: str) -> dict[str, Any]:
        return {"text": "pick", "options": [{"id": name} for name in options],
                "accept": [option], "answer": "accept", "_view_id": "choice",
                "_annotator_id": annotator}

    dataset = import_jsonl("later", jsonl(choice("X", "XY", "ann")))
    review = create(cluster, signer, name="later-review", interface="review",
                    dataset_id=dataset["id"]).json()
    bad_label = {"text": "odd", "label": "not a label", "answer": "accept",
                 "_view_id": "classification", "_annotator_id": "ben"}
    again = import_jsonl("later", jsonl(choice("Z", "XYZ", "cat"), bad_label))

    assert review["labels"] == ["X", "Y"]
    assert again["status"] == 200, again["body"]
    refreshed = cluster.get(f"/api/feeds/{review['id']}", headers=signer.headers()).json()
    assert refreshed["labels"] == ["X", "Y", "Z"]
    assert refreshed["examples"] == 3
