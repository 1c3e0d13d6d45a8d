"""Routing: overlap, leases, expiry, no repeats, reloads."""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
from sqlalchemy import update

from concord.cluster.datasets import utcnow
from concord.cluster.models import Lease


def make_feed(cluster, signer, import_jsonl, texts: list[str], **settings) -> str:
    body = b"".join(orjson.dumps({"text": text}) + b"\n" for text in texts)
    dataset = import_jsonl("source", body)
    spec = {
        "dataset_id": dataset["id"],
        "name": settings.pop("name", "feed"),
        "interface": "binary",
        "label": "DOC",
        **settings,
    }
    response = cluster.post("/api/feeds", json=spec, headers=signer.headers())
    assert response.status_code == 201, response.text
    return response.json()["id"]


def next_tasks(cluster, signer, feed_id: str, user: str, count: int = 10) -> list[dict]:
    response = cluster.post(
        f"/api/feeds/{feed_id}/next",
        json={"count": count},
        headers=signer.headers(role="annotator", user=user),
    )
    assert response.status_code == 200, response.text
    return response.json()["tasks"]


def answer(cluster, signer, feed_id: str, user: str, task: dict, value: str = "accept", answer_id: str | None = None) -> dict:
    response = cluster.post(
        f"/api/feeds/{feed_id}/answers",
        json={
            "answers": [
                {
                    "answer_id": answer_id or uuid.uuid4().hex,
                    "task_hash": task["_task_hash"],
                    "answer": value,
                }
            ]
        },
        headers=signer.headers(role="annotator", user=user),
    )
    assert response.status_code == 200, response.text
    return response.json()


def texts(n: int) -> list[str]:
    return [f"example number {i}" for i in range(n)]


def test_overlap_one_splits_work(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(6), overlap=1)
    first = next_tasks(cluster, signer, feed, "ann-a", 3)
    second = next_tasks(cluster, signer, feed, "ann-b", 10)
    first_hashes = {task["_task_hash"] for task in first}
    second_hashes = {task["_task_hash"] for task in second}
    assert len(first_hashes) == 3
    assert len(second_hashes) == 3
    assert first_hashes.isdisjoint(second_hashes)


def test_reload_returns_same_leased_tasks(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(6), overlap=1)
    first = next_tasks(cluster, signer, feed, "ann-a", 2)
    again = next_tasks(cluster, signer, feed, "ann-a", 2)
    assert [t["_task_hash"] for t in again] == [t["_task_hash"] for t in first]


def test_overlap_two_distinct_annotators(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(5), overlap=2)
    answered: dict[int, list[str]] = {}
    for _round in range(3):
        for user in ("ann-a", "ann-b", "ann-c"):
            for task in next_tasks(cluster, signer, feed, user, 2):
                answer(cluster, signer, feed, user, task)
                answered.setdefault(task["_task_hash"], []).append(user)
    assert len(answered) == 5
    for users in answered.values():
        assert len(users) == 2
        assert len(set(users)) == 2
    for user in ("ann-a", "ann-b", "ann-c"):
        assert next_tasks(cluster, signer, feed, user) == []


def test_no_repeat_after_answer(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(3), overlap=3)
    seen: list[int] = []
    while tasks := next_tasks(cluster, signer, feed, "ann-a", 1):
        seen.append(tasks[0]["_task_hash"])
        answer(cluster, signer, feed, "ann-a", tasks[0])
        assert len(seen) <= 3
    assert len(seen) == len(set(seen)) == 3


def test_expired_lease_returns_to_pool(cluster_app, cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(2), overlap=1)
    held = next_tasks(cluster, signer, feed, "ann-a", 2)
    assert len(held) == 2
    assert next_tasks(cluster, signer, feed, "ann-b") == []
    past = utcnow() - timedelta(seconds=1)
    with cluster_app.state.context.db.transaction() as session:
        session.execute(update(Lease).where(Lease.annotator_id == "ann-a").values(expires_at=past))
    taken = next_tasks(cluster, signer, feed, "ann-b")
    assert {t["_task_hash"] for t in taken} == {t["_task_hash"] for t in held}


def test_live_lease_blocks_others(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(1), overlap=1, lease_seconds=600)
    assert len(next_tasks(cluster, signer, feed, "ann-a")) == 1
    assert next_tasks(cluster, signer, feed, "ann-b") == []


def test_idempotent_submission(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(2), overlap=1)
    task = next_tasks(cluster, signer, feed, "ann-a", 1)[0]
    first = answer(cluster, signer, feed, "ann-a", task, answer_id="retry-1")
    second = answer(cluster, signer, feed, "ann-a", task, answer_id="retry-1")
    assert first == {"stored": ["retry-1"], "duplicates": []}
    assert second == {"stored": [], "duplicates": ["retry-1"]}
    other_id = answer(cluster, signer, feed, "ann-a", task, answer_id="retry-2")
    assert other_id == {"stored": [], "duplicates": ["retry-2"]}
    export = cluster.get(f"/api/feeds/{feed}/export", headers=signer.headers())
    assert len(export.content.splitlines()) == 1


def test_undo_leases_task_back(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(2), overlap=1)
    task = next_tasks(cluster, signer, feed, "ann-a", 1)[0]
    answer(cluster, signer, feed, "ann-a", task, answer_id="to-undo")
    headers = signer.headers(role="annotator", user="ann-a")
    undone = cluster.post(f"/api/feeds/{feed}/undo", headers=headers).json()
    assert undone["undone"] == {"answer_id": "to-undo", "task_hash": task["_task_hash"]}
    assert undone["task"]["_task_hash"] == task["_task_hash"]
    first = next_tasks(cluster, signer, feed, "ann-a", 1)[0]
    assert first["_task_hash"] == task["_task_hash"]
    assert next_tasks(cluster, signer, feed, "ann-b", 5)[0]["_task_hash"] != task["_task_hash"]
    nothing = cluster.post(f"/api/feeds/{feed}/undo", headers=signer.headers(role="annotator", user="ann-c"))
    assert nothing.json() == {"undone": None, "task": None}


def test_progress_counts(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(3), overlap=2)
    for user in ("ann-a", "ann-b"):
        task = next_tasks(cluster, signer, feed, user, 1)[0]
        answer(cluster, signer, feed, user, task)
    headers = signer.headers(role="annotator", user="ann-a")
    progress = cluster.get(f"/api/feeds/{feed}/progress", headers=headers).json()
    assert progress["examples_total"] == 3
    assert progress["answers"] == 2
    assert progress["examples_done"] == 1
    assert progress["mine"]["answers"] == 1
    assert progress["mine"]["available"] == 2


def test_late_answer_after_reassignment_rejected(cluster_app, cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(1), overlap=1)
    task = next_tasks(cluster, signer, feed, "ann-a")[0]
    past = utcnow() - timedelta(seconds=1)
    with cluster_app.state.context.db.transaction() as session:
        session.execute(update(Lease).values(expires_at=past))
    assert next_tasks(cluster, signer, feed, "ann-b")[0]["_task_hash"] == task["_task_hash"]
    late = cluster.post(
        f"/api/feeds/{feed}/answers",
        json={"answers": [{"answer_id": "late", "task_hash": task["_task_hash"], "answer": "accept"}]},
        headers=signer.headers(role="annotator", user="ann-a"),
    )
    assert late.status_code == 409
    assert "lease on it expired" in late.json()["error"]["message"]
    assert answer(cluster, signer, feed, "ann-b", task)["stored"]


def test_expired_lease_answer_kept_with_room(cluster_app, cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(1), overlap=1)
    task = next_tasks(cluster, signer, feed, "ann-a")[0]
    past = utcnow() - timedelta(seconds=1)
    with cluster_app.state.context.db.transaction() as session:
        session.execute(update(Lease).values(expires_at=past))
    assert answer(cluster, signer, feed, "ann-a", task)["stored"]


def test_manual_feed_one_task_per_text(cluster, signer, import_jsonl) -> None:
    same_text = "Acme sells the Roadrunner 3000 in Phoenix"
    body = b"".join(
        orjson.dumps({"text": same_text, "spans": [{"start": s, "end": e, "label": "PRODUCT"}]}) + b"\n"
        for s, e in ((0, 4), (15, 30))
    ) + orjson.dumps({"text": "Another text entirely"}) + b"\n"
    dataset = import_jsonl("suggestions", body)
    feed = cluster.post(
        "/api/feeds",
        json={"dataset_id": dataset["id"], "name": "manual", "interface": "ner_manual", "labels": ["PRODUCT"]},
        headers=signer.headers(),
    ).json()["id"]
    first = next_tasks(cluster, signer, feed, "ann-a", 10)
    assert [t["text"] for t in first] == [same_text, "Another text entirely"]
    for task in first:
        answer(cluster, signer, feed, "ann-a", task)
    assert next_tasks(cluster, signer, feed, "ann-a", 10) == []
    rest = next_tasks(cluster, signer, feed, "ann-b", 10)
    assert [t["text"] for t in rest] == [same_text]
    assert rest[0]["_task_hash"] != first[0]["_task_hash"]
