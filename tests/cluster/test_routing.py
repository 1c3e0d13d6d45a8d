"""Routing: one or more tests per numbered rule of docs/routing.md."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

import orjson
from sqlalchemy import select, update

from concord.cluster.database import Database
from concord.cluster.datasets import utcnow
from concord.cluster.models import Feed, Lease, OutboxEvent
from concord.cluster.routing import next_batch, partial_bucket


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
    """Rule 4 with overlap 1: annotators asking in turn get disjoint examples."""
    feed = make_feed(cluster, signer, import_jsonl, texts(6), overlap=1)
    first = next_tasks(cluster, signer, feed, "ann-a", 3)
    second = next_tasks(cluster, signer, feed, "ann-b", 10)
    first_hashes = {task["_task_hash"] for task in first}
    second_hashes = {task["_task_hash"] for task in second}
    assert len(first_hashes) == 3
    assert len(second_hashes) == 3
    assert first_hashes.isdisjoint(second_hashes)


def test_reload_returns_same_leased_tasks(cluster, signer, import_jsonl) -> None:
    """Rule 3: asking again returns the held leases."""
    feed = make_feed(cluster, signer, import_jsonl, texts(6), overlap=1)
    first = next_tasks(cluster, signer, feed, "ann-a", 2)
    again = next_tasks(cluster, signer, feed, "ann-a", 2)
    assert [t["_task_hash"] for t in again] == [t["_task_hash"] for t in first]


def test_overlap_two_distinct_annotators(cluster, signer, import_jsonl) -> None:
    """Rule 4: each example gets exactly `overlap` distinct annotators."""
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
    """Rule 1: an annotator never gets an example they answered."""
    feed = make_feed(cluster, signer, import_jsonl, texts(3), overlap=3)
    seen: list[int] = []
    while tasks := next_tasks(cluster, signer, feed, "ann-a", 1):
        seen.append(tasks[0]["_task_hash"])
        answer(cluster, signer, feed, "ann-a", tasks[0])
        assert len(seen) <= 3
    assert len(seen) == len(set(seen)) == 3


def test_expired_lease_returns_to_pool(cluster_app, cluster, signer, import_jsonl) -> None:
    """Rule 9: an expired lease returns its example to the pool."""
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
    """Rule 1: a live lease fills a slot."""
    feed = make_feed(cluster, signer, import_jsonl, texts(1), overlap=1, lease_seconds=600)
    assert len(next_tasks(cluster, signer, feed, "ann-a")) == 1
    assert next_tasks(cluster, signer, feed, "ann-b") == []


def test_idempotent_submission(cluster, signer, import_jsonl) -> None:
    """Rule 20: retries by answer id or by task store nothing new."""
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
    """Rule 13: undo leases the example back to the same annotator."""
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


# Each test below checks the numbered rule of docs/routing.md that its name gives.


def make_feed_from_records(cluster, signer, import_jsonl, records: list[dict], **settings) -> str:
    body = b"".join(orjson.dumps(record) + b"\n" for record in records)
    dataset = import_jsonl(settings.pop("dataset", "source"), body)
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


def ask(cluster, signer, feed_id: str, user: str, count: int = 10) -> dict:
    response = cluster.post(
        f"/api/feeds/{feed_id}/next",
        json={"count": count},
        headers=signer.headers(role="annotator", user=user),
    )
    assert response.status_code == 200, response.text
    return response.json()


def answer_all(cluster, signer, feed_id: str, user: str, tasks: list[dict], value: str = "accept") -> None:
    response = cluster.post(
        f"/api/feeds/{feed_id}/answers",
        json={
            "answers": [
                {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"], "answer": value}
                for task in tasks
            ]
        },
        headers=signer.headers(role="annotator", user=user),
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["stored"]) == len(tasks)


def skip(cluster, signer, feed_id: str, user: str, task_hash: int):
    return cluster.post(
        f"/api/feeds/{feed_id}/skip",
        json={"task_hash": task_hash},
        headers=signer.headers(role="annotator", user=user),
    )


def patch_feed(cluster, signer, feed_id: str, **change):
    return cluster.patch(f"/api/feeds/{feed_id}", json=change, headers=signer.headers())


def hashes(tasks: list[dict]) -> list[int]:
    return [task["_task_hash"] for task in tasks]


def lease_expiries(cluster_app, user: str) -> list:
    with cluster_app.state.context.db.sessions() as session:
        return list(session.scalars(select(Lease.expires_at).where(Lease.annotator_id == user)))


def set_lease_expiry(cluster_app, user: str, when) -> None:
    with cluster_app.state.context.db.transaction() as session:
        session.execute(update(Lease).where(Lease.annotator_id == user).values(expires_at=when))


def test_rule_01_open_needs_a_free_slot_and_no_own_answer_lease_or_skip(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(1), overlap=2)
    [task] = next_tasks(cluster, signer, feed, "ann-a")
    assert next_tasks(cluster, signer, feed, "ann-a") == [task]
    assert len(next_tasks(cluster, signer, feed, "ann-b")) == 1
    assert next_tasks(cluster, signer, feed, "ann-c") == []
    answer(cluster, signer, feed, "ann-a", task)
    assert next_tasks(cluster, signer, feed, "ann-a") == []
    assert next_tasks(cluster, signer, feed, "ann-c") == []
    assert skip(cluster, signer, feed, "ann-b", task["_task_hash"]).status_code == 200
    assert next_tasks(cluster, signer, feed, "ann-b") == []
    assert hashes(next_tasks(cluster, signer, feed, "ann-c")) == [task["_task_hash"]]


def test_rule_02_concurrent_claims_never_take_the_same_last_slot(cluster_app, cluster, signer, import_jsonl) -> None:
    feed_id = make_feed(cluster, signer, import_jsonl, texts(5), overlap=2)
    context = cluster_app.state.context
    # A second engine on the same file plays the part of a second cluster process.
    databases = [context.db, Database(context.db.url)]
    results: dict[str, list[int]] = {}

    def claim(user: str) -> None:
        database = databases[int(user.split("-")[1]) % 2]
        with database.transaction() as session:
            feed = session.get(Feed, feed_id)
            batch = next_batch(session, feed, user, 3, context.tokenizer)
            results[user] = hashes(batch.tasks)

    threads = [threading.Thread(target=claim, args=(f"ann-{i}",)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    databases[1].dispose()
    per_example = Counter(h for claimed in results.values() for h in claimed)
    assert len(results) == 12
    assert sum(per_example.values()) == 10
    assert set(per_example.values()) == {2}


def test_rule_03_held_leases_come_first_then_new_ones(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(6), overlap=1)
    first = next_tasks(cluster, signer, feed, "ann-a", 2)
    more = next_tasks(cluster, signer, feed, "ann-a", 4)
    assert hashes(more)[:2] == hashes(first)
    assert len(set(hashes(more))) == 4


def test_rule_05_full_overlap_gives_every_example_to_everyone(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(3), overlap_mode="full")
    for user in ("ann-a", "ann-b", "ann-c", "ann-d"):
        tasks = next_tasks(cluster, signer, feed, user)
        assert len(tasks) == 3
        answer_all(cluster, signer, feed, user, tasks)
        assert ask(cluster, signer, feed, user)["reason"] == "done"
    late = next_tasks(cluster, signer, feed, "ann-e")
    assert len(late) == 3
    answer_all(cluster, signer, feed, "ann-e", late[:2])
    progress = cluster.get(f"/api/feeds/{feed}/progress", headers=signer.headers()).json()
    assert progress["answers"] == 14
    assert progress["examples_done"] == 2


def test_rule_06_partial_overlap_uses_the_task_hash(cluster, signer, import_jsonl) -> None:
    feed = make_feed(
        cluster, signer, import_jsonl, texts(200), overlap=3, overlap_mode="partial", partial_fraction=0.25
    )
    answered: Counter[int] = Counter()
    for user in ("ann-a", "ann-b", "ann-c", "ann-d"):
        tasks = next_tasks(cluster, signer, feed, user, 100)
        while tasks:
            answer_all(cluster, signer, feed, user, tasks)
            answered.update(hashes(tasks))
            tasks = next_tasks(cluster, signer, feed, user, 100)
    chosen = {h for h in answered if partial_bucket(h) < 2_500}
    assert len(answered) == 200
    assert all(answered[h] == (3 if h in chosen else 1) for h in answered)
    assert 0.15 < len(chosen) / 200 < 0.35
    progress = cluster.get(f"/api/feeds/{feed}/progress", headers=signer.headers()).json()
    assert progress["examples_done"] == 200
    # The same examples are chosen in another feed over the same data.
    again = make_feed(
        cluster, signer, import_jsonl, [], name="again", overlap=2, overlap_mode="partial", partial_fraction=0.25
    )
    seen: Counter[int] = Counter()
    for user in ("ann-a", "ann-b"):
        tasks = next_tasks(cluster, signer, again, user, 100)
        while tasks:
            answer_all(cluster, signer, again, user, tasks)
            seen.update(hashes(tasks))
            tasks = next_tasks(cluster, signer, again, user, 100)
    assert {h for h, n in seen.items() if n == 2} == chosen


def test_rule_06_partial_overlap_needs_a_fraction(cluster, signer, import_jsonl) -> None:
    dataset = import_jsonl("source", orjson.dumps({"text": "one"}) + b"\n")
    spec = {"dataset_id": dataset["id"], "name": "f", "interface": "binary", "label": "DOC", "overlap": 2}
    missing = cluster.post("/api/feeds", json={**spec, "overlap_mode": "partial"}, headers=signer.headers())
    assert missing.status_code == 422
    assert "partial_fraction" in missing.json()["error"]["message"]
    stray = cluster.post("/api/feeds", json={**spec, "partial_fraction": 0.5}, headers=signer.headers())
    assert stray.status_code == 422
    one = cluster.post(
        "/api/feeds",
        json={**spec, "overlap": 1, "overlap_mode": "partial", "partial_fraction": 0.5},
        headers=signer.headers(),
    )
    assert one.status_code == 422
    assert cluster.get("/api/feeds", headers=signer.headers()).json() == []


def test_rule_07_lowering_overlap_serves_no_example_beyond_leases_out(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(1), overlap=3)
    held = {user: next_tasks(cluster, signer, feed, user)[0] for user in ("ann-a", "ann-b")}
    changed = patch_feed(cluster, signer, feed, overlap=1)
    assert changed.status_code == 200, changed.text
    assert changed.json()["overlap"] == 1
    assert ask(cluster, signer, feed, "ann-c") == {"tasks": [], "lease_expires_at": None, "reason": "leased-by-others"}
    for user, task in held.items():
        answer(cluster, signer, feed, user, task)
    assert ask(cluster, signer, feed, "ann-c")["reason"] == "done"
    export = cluster.get(f"/api/feeds/{feed}/export", headers=signer.headers())
    assert len(export.content.splitlines()) == 2
    assert patch_feed(cluster, signer, feed, overlap=3).status_code == 200
    assert len(next_tasks(cluster, signer, feed, "ann-c")) == 1
    assert next_tasks(cluster, signer, feed, "ann-d") == []


def test_rule_07_patch_announces_the_new_overlap_and_checks_input(cluster_app, cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(2), overlap=1)
    bad = patch_feed(cluster, signer, feed, overlap_mode="partial")
    assert bad.status_code == 422
    assert "partial_fraction" in bad.json()["error"]["message"]
    assert cluster.get(f"/api/feeds/{feed}", headers=signer.headers()).json()["overlap_mode"] == "number"
    done = patch_feed(cluster, signer, feed, overlap=4, overlap_mode="partial", partial_fraction=0.5)
    assert done.status_code == 200, done.text
    assert (done.json()["overlap"], done.json()["partial_fraction"]) == (4, 0.5)
    with cluster_app.state.context.db.sessions() as session:
        events = [
            row.payload
            for row in session.scalars(select(OutboxEvent).where(OutboxEvent.kind == "feed.created"))
        ]
    assert [event["overlap"] for event in events] == [1, 4]
    annotator = cluster.patch(
        f"/api/feeds/{feed}", json={"overlap": 2}, headers=signer.headers(role="annotator")
    )
    assert annotator.status_code == 403


def test_rule_08_answering_and_heartbeat_renew_held_leases(cluster_app, cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(3), overlap=1, lease_seconds=600)
    tasks = next_tasks(cluster, signer, feed, "ann-a", 3)
    soon = utcnow() + timedelta(seconds=30)
    set_lease_expiry(cluster_app, "ann-a", soon)
    answer(cluster, signer, feed, "ann-a", tasks[0])
    renewed = lease_expiries(cluster_app, "ann-a")
    assert len(renewed) == 2
    assert all(expiry.replace(tzinfo=soon.tzinfo) > soon + timedelta(seconds=500) for expiry in renewed)
    set_lease_expiry(cluster_app, "ann-a", soon)
    headers = signer.headers(role="annotator", user="ann-a")
    beat = cluster.post(f"/api/feeds/{feed}/heartbeat", headers=headers).json()
    assert beat["leases"] == 2
    assert all(expiry.replace(tzinfo=soon.tzinfo) > soon + timedelta(seconds=500) for expiry in lease_expiries(cluster_app, "ann-a"))


def test_rule_09_expired_leases_are_not_revived_and_late_joiners_get_work(cluster_app, cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(5), overlap=1)
    held = next_tasks(cluster, signer, feed, "ann-a", 3)
    assert len(next_tasks(cluster, signer, feed, "ann-late", 10)) == 2
    set_lease_expiry(cluster_app, "ann-a", utcnow() - timedelta(seconds=1))
    headers = signer.headers(role="annotator", user="ann-a")
    assert cluster.post(f"/api/feeds/{feed}/heartbeat", headers=headers).json() == {
        "leases": 0,
        "lease_expires_at": None,
    }
    taken = next_tasks(cluster, signer, feed, "ann-b", 10)
    assert set(hashes(taken)) == set(hashes(held))


def test_rule_10_a_late_answer_needs_room(cluster_app, cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(2), overlap=1)
    first, second = next_tasks(cluster, signer, feed, "ann-a", 2)
    set_lease_expiry(cluster_app, "ann-a", utcnow() - timedelta(seconds=1))
    assert answer(cluster, signer, feed, "ann-a", second)["stored"]
    assert hashes(next_tasks(cluster, signer, feed, "ann-b")) == [first["_task_hash"]]
    late = cluster.post(
        f"/api/feeds/{feed}/answers",
        json={"answers": [{"answer_id": "late", "task_hash": first["_task_hash"], "answer": "accept"}]},
        headers=signer.headers(role="annotator", user="ann-a"),
    )
    assert late.status_code == 409
    assert answer(cluster, signer, feed, "ann-b", first)["stored"]
    export = cluster.get(f"/api/feeds/{feed}/export", headers=signer.headers())
    assert len(export.content.splitlines()) == 2


def test_rule_11_ignore_counts_toward_overlap_and_never_returns(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(1), overlap=2)
    [task] = next_tasks(cluster, signer, feed, "ann-a")
    answer(cluster, signer, feed, "ann-a", task, value="ignore")
    assert ask(cluster, signer, feed, "ann-a")["reason"] == "done"
    [same] = next_tasks(cluster, signer, feed, "ann-b")
    answer(cluster, signer, feed, "ann-b", same)
    assert ask(cluster, signer, feed, "ann-c")["reason"] == "done"
    export = cluster.get(f"/api/feeds/{feed}/export", headers=signer.headers())
    assert sorted(orjson.loads(line)["answer"] for line in export.content.splitlines()) == ["accept", "ignore"]


def test_rule_12_skip_frees_the_slot_and_never_returns_to_the_skipper(cluster_app, cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(2), overlap=1)
    [first] = next_tasks(cluster, signer, feed, "ann-a", 1)
    response = skip(cluster, signer, feed, "ann-a", first["_task_hash"])
    assert response.json() == {"skipped": first["_task_hash"]}
    assert skip(cluster, signer, feed, "ann-a", first["_task_hash"]).status_code == 200
    assert lease_expiries(cluster_app, "ann-a") == []
    assert hashes(next_tasks(cluster, signer, feed, "ann-b", 1)) == [first["_task_hash"]]
    [second] = next_tasks(cluster, signer, feed, "ann-a", 10)
    assert second["_task_hash"] != first["_task_hash"]
    answer(cluster, signer, feed, "ann-a", second)
    answered = skip(cluster, signer, feed, "ann-a", second["_task_hash"])
    assert answered.status_code == 409
    assert skip(cluster, signer, feed, "ann-a", 12345).status_code == 422
    export = cluster.get(f"/api/feeds/{feed}/export", headers=signer.headers())
    assert len(export.content.splitlines()) == 1
    with cluster_app.state.context.db.sessions() as session:
        kinds = list(session.scalars(select(OutboxEvent.kind).where(OutboxEvent.kind.like("answer.%"))))
    assert kinds == ["answer.created"]


def test_rule_13_undo_keeps_skips(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(2), overlap=1)
    first, second = next_tasks(cluster, signer, feed, "ann-a", 2)
    skip(cluster, signer, feed, "ann-a", first["_task_hash"])
    answer(cluster, signer, feed, "ann-a", second)
    headers = signer.headers(role="annotator", user="ann-a")
    undone = cluster.post(f"/api/feeds/{feed}/undo", headers=headers).json()
    assert undone["undone"]["task_hash"] == second["_task_hash"]
    assert hashes(next_tasks(cluster, signer, feed, "ann-a")) == [second["_task_hash"]]


def test_rule_14_source_order(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(8), overlap=1)
    tasks = next_tasks(cluster, signer, feed, "ann-a", 8)
    assert [task["text"] for task in tasks] == texts(8)


def test_rule_15_random_order_is_fixed_per_seed_and_annotator(cluster, signer, import_jsonl) -> None:
    first = make_feed(cluster, signer, import_jsonl, texts(30), name="one", overlap=2, order="random", seed=7)
    second = make_feed(cluster, signer, import_jsonl, [], name="two", overlap=2, order="random", seed=7)
    other_seed = make_feed(cluster, signer, import_jsonl, [], name="three", overlap=2, order="random", seed=8)
    order_a = [task["text"] for task in next_tasks(cluster, signer, first, "ann-a", 30)]
    assert sorted(order_a) == sorted(texts(30))
    assert order_a != texts(30)
    assert [task["text"] for task in next_tasks(cluster, signer, second, "ann-a", 30)] == order_a
    assert [task["text"] for task in next_tasks(cluster, signer, first, "ann-b", 30)] != order_a
    assert [task["text"] for task in next_tasks(cluster, signer, other_seed, "ann-a", 30)] != order_a
    drawn = make_feed(cluster, signer, import_jsonl, [], name="four", order="random")
    assert isinstance(cluster.get(f"/api/feeds/{drawn}", headers=signer.headers()).json()["seed"], int)
    dataset = cluster.get(f"/api/feeds/{first}", headers=signer.headers()).json()["dataset_id"]
    stray = cluster.post(
        "/api/feeds",
        json={"dataset_id": dataset, "name": "five", "interface": "binary", "label": "DOC", "seed": 3},
        headers=signer.headers(),
    )
    assert stray.status_code == 422


def test_rule_16_priority_order_puts_high_numbers_first(cluster, signer, import_jsonl) -> None:
    records = [
        {"text": "low", "priority": 1},
        {"text": "none"},
        {"text": "high", "priority": 5.5},
        {"text": "word", "priority": "urgent"},
        {"text": "middle", "priority": 3},
        {"text": "negative", "priority": -2},
    ]
    feed = make_feed_from_records(cluster, signer, import_jsonl, records, order="priority")
    tasks = next_tasks(cluster, signer, feed, "ann-a", 10)
    assert [task["text"] for task in tasks] == ["high", "middle", "low", "negative", "none", "word"]


def test_rule_17_quota_stops_new_leases(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(5), overlap=1, quota=2)
    tasks = next_tasks(cluster, signer, feed, "ann-a", 10)
    assert len(tasks) == 2
    answer(cluster, signer, feed, "ann-a", tasks[0])
    assert hashes(next_tasks(cluster, signer, feed, "ann-a", 10)) == hashes(tasks[1:])
    answer(cluster, signer, feed, "ann-a", tasks[1])
    assert ask(cluster, signer, feed, "ann-a") == {"tasks": [], "lease_expires_at": None, "reason": "quota"}
    assert len(next_tasks(cluster, signer, feed, "ann-b", 10)) == 2
    assert patch_feed(cluster, signer, feed, quota=None).json()["quota"] is None
    assert len(next_tasks(cluster, signer, feed, "ann-a", 10)) == 1


def test_rule_18_exclude_examples_answered_in_other_feeds(cluster, signer, import_jsonl) -> None:
    first = make_feed(cluster, signer, import_jsonl, texts(3), name="first", overlap=1)
    one, two = next_tasks(cluster, signer, first, "ann-a", 2)
    answer(cluster, signer, first, "ann-a", one, value="ignore")
    skip(cluster, signer, first, "ann-a", two["_task_hash"])
    second = make_feed(cluster, signer, import_jsonl, [], name="second", overlap=1, exclude_seen_in_other_feeds=True)
    offered = hashes(next_tasks(cluster, signer, second, "ann-a", 10))
    assert one["_task_hash"] not in offered
    assert two["_task_hash"] in offered
    assert len(offered) == 2
    plain = make_feed(cluster, signer, import_jsonl, [], name="plain", overlap=1)
    assert one["_task_hash"] in hashes(next_tasks(cluster, signer, plain, "ann-a", 10))


def test_rule_19_reason_tells_why_nothing_came(cluster_app, cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(1), overlap=1)
    given = ask(cluster, signer, feed, "ann-a")
    assert given["reason"] is None
    assert ask(cluster, signer, feed, "ann-b")["reason"] == "leased-by-others"
    set_lease_expiry(cluster_app, "ann-a", utcnow() - timedelta(seconds=1))
    [task] = next_tasks(cluster, signer, feed, "ann-b")
    answer(cluster, signer, feed, "ann-b", task)
    assert ask(cluster, signer, feed, "ann-a")["reason"] == "done"


def test_rule_21_answers_can_ask_for_the_next_tasks(cluster, signer, import_jsonl) -> None:
    """Rule 21: one request stores the answers and returns what next would."""
    feed = make_feed(cluster, signer, import_jsonl, texts(8), overlap=1)
    first = next_tasks(cluster, signer, feed, "ann-a", 3)
    response = cluster.post(
        f"/api/feeds/{feed}/answers",
        json={
            "answers": [
                {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"], "answer": "accept"}
                for task in first[:2]
            ],
            "next": 3,
        },
        headers=signer.headers(role="annotator", user="ann-a"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["stored"]) == 2
    hashes = [task["_task_hash"] for task in body["tasks"]]
    # The lease still held comes first, then new examples, none answered.
    assert hashes[0] == first[2]["_task_hash"]
    assert len(hashes) == 3
    assert not {task["_task_hash"] for task in first[:2]} & set(hashes)
    assert body["reason"] is None
    assert body["lease_expires_at"]
    # The same tasks come back from a plain next: they are leased.
    again = next_tasks(cluster, signer, feed, "ann-a", 3)
    assert [task["_task_hash"] for task in again] == hashes


def test_rule_21_rejected_answers_lease_nothing(cluster_app, cluster, signer, import_jsonl) -> None:
    """Rule 21: a batch that fails stores nothing and claims nothing."""
    feed = make_feed(cluster, signer, import_jsonl, texts(4), overlap=1)
    first = next_tasks(cluster, signer, feed, "ann-a", 1)
    response = cluster.post(
        f"/api/feeds/{feed}/answers",
        json={
            "answers": [
                {"answer_id": uuid.uuid4().hex, "task_hash": first[0]["_task_hash"], "answer": "accept"},
                {"answer_id": uuid.uuid4().hex, "task_hash": 12345, "answer": "accept"},
            ],
            "next": 3,
        },
        headers=signer.headers(role="annotator", user="ann-a"),
    )
    assert response.status_code == 422, response.text
    assert "12345" in response.json()["error"]["message"]
    database: Database = cluster_app.state.context.db
    with database.sessions() as session:
        leased = session.scalars(select(Lease.annotator_id).where(Lease.feed_id == feed)).all()
    assert leased == ["ann-a"]


def test_rule_21_next_after_the_last_answer_says_done(cluster, signer, import_jsonl) -> None:
    feed = make_feed(cluster, signer, import_jsonl, texts(2), overlap=1)
    tasks = next_tasks(cluster, signer, feed, "ann-a", 5)
    response = cluster.post(
        f"/api/feeds/{feed}/answers",
        json={
            "answers": [
                {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"], "answer": "reject"}
                for task in tasks
            ],
            "next": 5,
        },
        headers=signer.headers(role="annotator", user="ann-a"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["tasks"] == []
    assert response.json()["reason"] == "done"
