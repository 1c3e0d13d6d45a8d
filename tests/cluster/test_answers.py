"""Answer validation for choice and manual NER, and what a stored record holds."""

from __future__ import annotations

import uuid

import orjson
import pytest
from sqlalchemy import select

from concord.cluster.models import OutboxEvent

TEXT = "Apple hired Tim Cook in Cupertino \U0001F34E today."


def jsonl(*records: dict) -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in records)


@pytest.fixture
def ner_feed(cluster, signer, import_jsonl) -> str:
    dataset = import_jsonl("ner-source", jsonl({"text": TEXT}))
    spec = {
        "dataset_id": dataset["id"],
        "name": "ner",
        "interface": "ner_manual",
        "labels": ["ORG", "PERSON", "LOC"],
    }
    response = cluster.post("/api/feeds", json=spec, headers=signer.headers())
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def choice_feed(cluster, signer, import_jsonl) -> str:
    dataset = import_jsonl("choice-source", jsonl({"text": "pick one"}))
    spec = {
        "dataset_id": dataset["id"],
        "name": "choice",
        "interface": "choice",
        "options": [{"id": "A", "text": "first"}, {"id": "B", "text": "second"}],
    }
    response = cluster.post("/api/feeds", json=spec, headers=signer.headers())
    assert response.status_code == 201, response.text
    return response.json()["id"]


def first_task(cluster, signer, feed: str) -> dict:
    response = cluster.post(
        f"/api/feeds/{feed}/next", json={"count": 1}, headers=signer.headers(role="annotator")
    )
    return response.json()["tasks"][0]


def submit(cluster, signer, feed: str, task: dict, **fields):
    body = {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"], "answer": "accept"}
    body.update(fields)
    return cluster.post(
        f"/api/feeds/{feed}/answers",
        json={"answers": [body]},
        headers=signer.headers(role="annotator"),
    )


def exported(cluster, signer, feed: str) -> list[dict]:
    response = cluster.get(f"/api/feeds/{feed}/export", headers=signer.headers())
    return [orjson.loads(line) for line in response.content.splitlines()]


def test_ner_task_has_code_point_tokens(cluster, signer, ner_feed) -> None:
    task = first_task(cluster, signer, ner_feed)
    for token in task["tokens"]:
        assert TEXT[token["start"] : token["end"]] == token["text"]
    assert task["_view_id"] == "ner_manual"


def test_ner_spans_stored_with_tokens(cluster, signer, ner_feed) -> None:
    task = first_task(cluster, signer, ner_feed)
    spans = [
        {"start": 0, "end": 5, "label": "ORG"},
        {"start": 12, "end": 20, "label": "PERSON", "text": "Tim Cook"},
    ]
    response = submit(cluster, signer, ner_feed, task, spans=spans)
    assert response.status_code == 200, response.text
    record = exported(cluster, signer, ner_feed)[0]
    assert record["spans"] == [
        {"start": 0, "end": 5, "token_start": 0, "token_end": 0, "label": "ORG"},
        {"start": 12, "end": 20, "token_start": 2, "token_end": 3, "label": "PERSON"},
    ]
    assert record["answer"] == "accept"
    assert record["_annotator_id"] == "user-1"
    assert record["text"] == TEXT


@pytest.mark.parametrize(
    ("span", "fragment"),
    [
        ({"start": 0, "end": 3, "label": "ORG"}, "token boundaries"),
        ({"start": 0, "end": 5, "label": "DATE"}, "not one of the feed's labels"),
        ({"start": 0, "end": 500, "label": "ORG"}, "offsets must satisfy"),
        ({"start": 0, "end": 5, "label": "ORG", "text": "Apfel"}, "does not match"),
    ],
)
def test_invalid_span_rejected(cluster, signer, ner_feed, span, fragment) -> None:
    task = first_task(cluster, signer, ner_feed)
    response = submit(cluster, signer, ner_feed, task, spans=[span])
    assert response.status_code == 422
    assert fragment in response.json()["error"]["message"]
    assert exported(cluster, signer, ner_feed) == []


def test_overlapping_spans_rejected(cluster, signer, ner_feed) -> None:
    task = first_task(cluster, signer, ner_feed)
    spans = [
        {"start": 12, "end": 20, "label": "PERSON"},
        {"start": 16, "end": 20, "label": "PERSON"},
    ]
    response = submit(cluster, signer, ner_feed, task, spans=spans)
    assert response.status_code == 422
    assert "overlap" in response.json()["error"]["message"]


def test_emoji_offsets_are_code_points(cluster, signer, ner_feed) -> None:
    task = first_task(cluster, signer, ner_feed)
    apple = TEXT.index("\U0001F34E")
    response = submit(
        cluster, signer, ner_feed, task, spans=[{"start": apple, "end": apple + 1, "label": "ORG"}]
    )
    assert response.status_code == 200, response.text
    span = exported(cluster, signer, ner_feed)[0]["spans"][0]
    assert TEXT[span["start"] : span["end"]] == "\U0001F34E"


def test_choice_single_and_unknown(cluster, signer, choice_feed) -> None:
    task = first_task(cluster, signer, choice_feed)
    assert [option["id"] for option in task["options"]] == ["A", "B"]
    two = submit(cluster, signer, choice_feed, task, accept=["A", "B"])
    assert two.status_code == 422
    unknown = submit(cluster, signer, choice_feed, task, accept=["Z"])
    assert unknown.status_code == 422
    assert "'Z'" in unknown.json()["error"]["message"]
    good = submit(cluster, signer, choice_feed, task, accept=["B"])
    assert good.status_code == 200
    assert exported(cluster, signer, choice_feed)[0]["accept"] == ["B"]


def test_unknown_task_hash_stores_nothing(cluster, signer, choice_feed) -> None:
    task = first_task(cluster, signer, choice_feed)
    answers = [
        {"answer_id": "good", "task_hash": task["_task_hash"], "answer": "reject"},
        {"answer_id": "bad", "task_hash": 12345, "answer": "reject"},
    ]
    response = cluster.post(
        f"/api/feeds/{choice_feed}/answers",
        json={"answers": answers},
        headers=signer.headers(role="annotator"),
    )
    assert response.status_code == 422
    assert "12345" in response.json()["error"]["message"]
    assert exported(cluster, signer, choice_feed) == []


def test_binary_feed_requires_label(cluster, signer, import_jsonl) -> None:
    dataset = import_jsonl("bin", jsonl({"text": "x"}))
    response = cluster.post(
        "/api/feeds",
        json={"dataset_id": dataset["id"], "name": "nolabel", "interface": "binary"},
        headers=signer.headers(),
    )
    assert response.status_code == 422
    assert "label" in response.json()["error"]["message"]


def test_new_task_options_redeclared(cluster_app, cluster, signer, import_jsonl) -> None:
    first = {"text": "which one", "options": [{"id": "Q1", "text": "one"}]}
    dataset = import_jsonl("task-options", jsonl(first))
    created = cluster.post(
        "/api/feeds",
        json={"dataset_id": dataset["id"], "name": "per-task", "interface": "choice"},
        headers=signer.headers(),
    )
    assert created.json()["labels"] == ["Q1"]
    later = {"text": "and this", "options": [{"id": "Q2", "text": "two"}]}
    import_jsonl("task-options", jsonl(later))
    feed = cluster.get(f"/api/feeds/{created.json()['id']}", headers=signer.headers()).json()
    assert feed["labels"] == ["Q1", "Q2"]
    with cluster_app.state.context.db.sessions() as session:
        payloads = session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.kind == "feed.created")
        ).all()
    assert [payload["labels"] for payload in payloads] == [["Q1"], ["Q1", "Q2"]]


def test_choice_accept_needs_option(cluster, signer, choice_feed) -> None:
    task = first_task(cluster, signer, choice_feed)
    response = submit(cluster, signer, choice_feed, task, accept=[])
    assert response.status_code == 422
    assert "at least one option" in response.json()["error"]["message"]
    assert submit(cluster, signer, choice_feed, task, answer="reject").status_code == 200


def test_task_hash_out_of_range(cluster, signer, choice_feed) -> None:
    response = cluster.post(
        f"/api/feeds/{choice_feed}/answers",
        json={"answers": [{"answer_id": "big", "task_hash": 2**70, "answer": "accept"}]},
        headers=signer.headers(role="annotator"),
    )
    assert response.status_code == 422


def test_free_text_option_ids_cross_hashed(cluster_app, cluster, signer, import_jsonl) -> None:
    option_id = "Emerson, the American philosopher"
    task = {"text": "which Emerson", "options": [{"id": option_id, "text": "x"}, {"id": "NIL"}]}
    dataset = import_jsonl("free-ids", jsonl(task))
    created = cluster.post(
        "/api/feeds",
        json={"dataset_id": dataset["id"], "name": "free-ids", "interface": "choice"},
        headers=signer.headers(),
    )
    assert created.status_code == 201, created.text
    labels = created.json()["labels"]
    assert labels[1] == "NIL"
    assert labels[0].startswith("h-")
    served = first_task(cluster, signer, created.json()["id"])
    stored = submit(cluster, signer, created.json()["id"], served, accept=[option_id])
    assert stored.status_code == 200, stored.text
    with cluster_app.state.context.db.sessions() as session:
        payloads = session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.kind == "answer.created")
        ).all()
    assert payloads[0]["labels"] == [labels[0]]
    assert option_id not in orjson.dumps(payloads).decode()
