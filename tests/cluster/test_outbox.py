"""Outbox rows: written with the change, and holding no example text."""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy import select

from concord.cluster.models import OutboxEvent
from concord.common.events import EventBatch

TEXTS = [
    "The confidential quarterly numbers for the Zurich office",
    "Another private sentence nobody outside may read",
]


def outbox_rows(cluster_app) -> list[OutboxEvent]:
    with cluster_app.state.context.db.sessions() as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def test_events_follow_the_flow_without_text(cluster_app, cluster, signer, import_jsonl) -> None:
    body = b"".join(orjson.dumps({"text": text}) + b"\n" for text in TEXTS)
    dataset = import_jsonl("private", body)
    feed = cluster.post(
        "/api/feeds",
        json={"dataset_id": dataset["id"], "name": "f", "interface": "ner_manual", "labels": ["ORG"]},
        headers=signer.headers(),
    ).json()
    headers = signer.headers(role="annotator", user="u-1")
    task = cluster.post(f"/api/feeds/{feed['id']}/next", json={"count": 1}, headers=headers).json()["tasks"][0]
    zurich = task["text"].index("Zurich")
    answer = {
        "answer_id": uuid.uuid4().hex,
        "task_hash": task["_task_hash"],
        "answer": "accept",
        "spans": [{"start": zurich, "end": zurich + 6, "label": "ORG"}],
    }
    stored = cluster.post(f"/api/feeds/{feed['id']}/answers", json={"answers": [answer]}, headers=headers)
    assert stored.status_code == 200, stored.text
    cluster.post(f"/api/feeds/{feed['id']}/undo", headers=headers)

    rows = outbox_rows(cluster_app)
    kinds = [row.kind for row in rows]
    assert kinds == [
        "dataset.created",
        "dataset.imported",
        "feed.created",
        "answer.created",
        "answer.undone",
    ]
    created = rows[3].payload
    assert created["labels"] == ["ORG"]
    assert created["task_hash"] == task["_task_hash"]
    assert created["annotator_id"] == "u-1"
    EventBatch.model_validate({"events": [row.payload for row in rows]})
    raw = orjson.dumps([row.payload for row in rows]).decode()
    for text in TEXTS:
        assert text not in raw
        for word in ("Zurich", "confidential", "quarterly"):
            assert word not in raw


def test_failed_import_writes_no_event(cluster_app, import_jsonl) -> None:
    import_jsonl("bad", b'{"text": "fine"}\nnot json\n')
    kinds = [row.kind for row in outbox_rows(cluster_app)]
    assert kinds == ["dataset.created"]


def test_export_reported_for_audit(cluster_app, cluster, signer, import_jsonl) -> None:
    dataset = import_jsonl("exported", b'{"text": "one"}\n')
    headers = signer.headers(user="manager-1")
    assert cluster.get(f"/api/datasets/{dataset['id']}/export", headers=headers).status_code == 200
    last = outbox_rows(cluster_app)[-1]
    assert last.kind == "export.started"
    assert last.payload["actor_id"] == "manager-1"
    assert last.payload["source_id"] == dataset["id"]
