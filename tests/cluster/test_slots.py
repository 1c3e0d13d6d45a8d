"""Claim counters (``feed_slots``): every path that adds or removes answers,
leases or examples keeps them equal to the tables they count.

The race tests at the end pause one transaction just before a chosen
statement or its commit and run another request meanwhile. On SQLite the
second request waits for the write lock, so these tests check the serial
outcome. On PostgreSQL (``CONCORD_TEST_DATABASE=postgresql``) the two
requests interleave as they would on two replicas.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, select, text, update

from concord.cluster import slots
from concord.cluster.answers import submit_answers
from concord.cluster.context import ClusterContext
from concord.cluster.database import MIGRATIONS, Database
from concord.cluster.datasets import utcnow, write_import
from concord.cluster.feeds import FeedCreate, FeedUpdate, create_feed, get_feed, update_feed
from concord.common.errors import Unavailable
from concord.cluster.models import Annotation, Dataset, Example, Feed, FeedSlot, Lease
from concord.cluster.routing import next_batch
from concord.cluster.security import Principal
from concord.cluster.validation import AnswerBatch, AnswerIn
from concord.common.db import sqlite_url
from tests.cluster.conftest import ImportFn, Signer
from tests.conftest import DatabaseFactory

# How long a paused transaction waits for the other request. On SQLite the
# other request cannot start until the pause ends, so this is its cost there.
PAUSE_SECONDS = 2.0


def jsonl(texts: list[str]) -> bytes:
    return b"".join(orjson.dumps({"text": value}) + b"\n" for value in texts)


def texts(count: int, prefix: str = "example") -> list[str]:
    return [f"{prefix} number {index}" for index in range(count)]


def make_feed(
    cluster: TestClient, signer: Signer, dataset_id: str, **settings: Any
) -> str:
    spec = {
        "dataset_id": dataset_id,
        "name": settings.pop("name", "feed"),
        "interface": "binary",
        "label": "DOC",
        **settings,
    }
    response = cluster.post("/api/feeds", json=spec, headers=signer.headers())
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def ask(cluster: TestClient, signer: Signer, feed_id: str, user: str, count: int = 10) -> list[dict]:
    response = cluster.post(
        f"/api/feeds/{feed_id}/next",
        json={"count": count},
        headers=signer.headers(role="annotator", user=user),
    )
    assert response.status_code == 200, response.text
    return list(response.json()["tasks"])


def submit(
    cluster: TestClient,
    signer: Signer,
    feed_id: str,
    user: str,
    task_hash: int,
    answer_id: str | None = None,
) -> Any:  # noqa: ANN401 - the response
    return cluster.post(
        f"/api/feeds/{feed_id}/answers",
        json={
            "answers": [
                {
                    "answer_id": answer_id or uuid.uuid4().hex,
                    "task_hash": task_hash,
                    "answer": "accept",
                }
            ]
        },
        headers=signer.headers(role="annotator", user=user),
    )


def context_of(app: FastAPI) -> ClusterContext:
    return app.state.context  # type: ignore[no-any-return]


def counters(app: FastAPI, feed_id: str) -> dict[int, tuple[int, int, int]]:
    """Return ``task_hash -> (answers, leases, free)`` of the feed's slots."""
    with context_of(app).db.sessions() as session:
        rows = session.execute(
            select(FeedSlot.task_hash, FeedSlot.answers, FeedSlot.leases, FeedSlot.free).where(
                FeedSlot.feed_id == feed_id
            )
        )
        return {task_hash: (answers, leases, free) for task_hash, answers, leases, free in rows}


def assert_consistent(app: FastAPI, feed_id: str) -> None:
    """Check the feed's slots against the tables and against the feed's overlap."""
    with context_of(app).db.sessions() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        assert slots.drift(session, feed_id) == []
        assert slots.missing_slots(session, feed) == 0
        rows = session.execute(
            select(FeedSlot.task_hash, FeedSlot.needed).where(FeedSlot.feed_id == feed_id)
        ).all()
        stale = [
            (task_hash, needed)
            for task_hash, needed in rows
            if needed != (slots.example_overlap(feed, task_hash) or slots.UNLIMITED)
        ]
        assert stale == []


def expire_leases_of(
    app: FastAPI, feed_id: str, user: str, at: datetime | None = None
) -> None:
    """Set the user's leases in the feed to expire at ``at``, by default a second ago."""
    when = at if at is not None else utcnow() - timedelta(seconds=1)
    with context_of(app).db.transaction() as session:
        session.execute(
            update(Lease)
            .where(Lease.feed_id == feed_id, Lease.annotator_id == user)
            .values(expires_at=when)
        )


# Counters after each kind of write ------------------------------------------


def test_claim_and_answer_move_counters(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(3)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=2)
    [task] = ask(cluster, signer, feed, "ann-a", 1)
    task_hash = task["_task_hash"]
    assert counters(cluster_app, feed)[task_hash] == (0, 1, 1)
    assert submit(cluster, signer, feed, "ann-a", task_hash).status_code == 200
    assert counters(cluster_app, feed)[task_hash] == (1, 0, 1)
    assert_consistent(cluster_app, feed)


def test_import_into_served_dataset(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(2)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    first = ask(cluster, signer, feed, "ann-a", 1)
    added = import_jsonl("source", jsonl(texts(3, "added")))
    assert added["status"] == 200, added["body"]
    # Re-importing known lines and an annotation adds no slot and no feed answer.
    annotated = {"text": "added number 0", "answer": "accept", "_annotator_id": "old"}
    again = import_jsonl("source", jsonl(texts(3, "added")) + orjson.dumps(annotated) + b"\n")
    assert again["status"] == 200, again["body"]

    rows = counters(cluster_app, feed)
    assert len(rows) == 5
    assert rows[first[0]["_task_hash"]] == (0, 1, 0)
    assert sorted(rows.values()).count((0, 0, 1)) == 4
    assert_consistent(cluster_app, feed)
    later = ask(cluster, signer, feed, "ann-b", 10)
    assert len(later) == 4


def test_import_into_partial_feed(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(5)))
    feed = make_feed(
        cluster, signer, dataset["id"], overlap=3, overlap_mode="partial", partial_fraction=0.5
    )
    import_jsonl("source", jsonl(texts(40, "added")))
    assert len(counters(cluster_app, feed)) == 45
    assert_consistent(cluster_app, feed)


def test_feed_on_gold_survives_rebuild(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(4)))
    source = make_feed(cluster, signer, dataset["id"], overlap=2, name="source-feed")
    for user in ("ann-a", "ann-b"):
        for task in ask(cluster, signer, source, user, 3):
            assert submit(cluster, signer, source, user, task["_task_hash"]).status_code == 200
    gold_request = {"feed_id": source, "name": "gold", "min_agreement": 0.5}
    built = cluster.post("/api/gold", json=gold_request, headers=signer.headers())
    assert built.status_code == 200, built.text
    assert built.json()["gold_items"] == 3
    gold_id = built.json()["dataset"]["id"]
    checking = make_feed(cluster, signer, gold_id, overlap=1, name="gold-check")
    held = ask(cluster, signer, checking, "ann-c", 2)
    assert submit(cluster, signer, checking, "ann-c", held[0]["_task_hash"]).status_code == 200
    assert_consistent(cluster_app, checking)

    # The fourth example gets its two answers, so the rebuild writes four.
    for user in ("ann-a", "ann-b"):
        for task in ask(cluster, signer, source, user, 3):
            assert submit(cluster, signer, source, user, task["_task_hash"]).status_code == 200
    rebuilt = cluster.post("/api/gold", json=gold_request, headers=signer.headers())
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["gold_items"] == 4

    assert_consistent(cluster_app, checking)
    assert len(counters(cluster_app, checking)) == 4
    assert len(ask(cluster, signer, checking, "ann-d", 10)) == 4


def test_gold_from_feed_on_itself(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    """Building gold from a feed on that gold dataset, under the same name, is a clear 4xx."""
    dataset = import_jsonl("source", jsonl(texts(2)))
    source = make_feed(cluster, signer, dataset["id"], overlap=1, name="source-feed")
    for task in ask(cluster, signer, source, "ann-a", 2):
        assert submit(cluster, signer, source, "ann-a", task["_task_hash"]).status_code == 200
    request = {"feed_id": source, "name": "gold", "min_agreement": 0.5}
    built = cluster.post("/api/gold", json=request, headers=signer.headers())
    assert built.status_code == 200, built.text
    checking = make_feed(cluster, signer, built.json()["dataset"]["id"], name="gold-check")
    for task in ask(cluster, signer, checking, "ann-c", 2):
        assert submit(cluster, signer, checking, "ann-c", task["_task_hash"]).status_code == 200

    request = {"feed_id": checking, "name": "gold", "min_agreement": 0.5}
    client = TestClient(cluster_app, raise_server_exceptions=False)
    again = client.post("/api/gold", json=request, headers=signer.headers())
    assert 400 <= again.status_code < 500, again.text
    rows = counters(cluster_app, checking)
    assert len(rows) == 2
    assert set(rows.values()) == {(1, 0, 0)}


def test_overlap_patch_recomputes_free(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(3)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=2)
    tasks = ask(cluster, signer, feed, "ann-a", 2)
    assert submit(cluster, signer, feed, "ann-a", tasks[0]["_task_hash"]).status_code == 200
    ask(cluster, signer, feed, "ann-b", 1)

    def patch(change: dict[str, Any]) -> None:
        response = cluster.patch(f"/api/feeds/{feed}", json=change, headers=signer.headers())
        assert response.status_code == 200, response.text
        assert_consistent(cluster_app, feed)

    patch({"overlap": 1})
    # Example 0: one answer by ann-a and ann-b's lease, so one more than allowed.
    assert counters(cluster_app, feed)[tasks[0]["_task_hash"]] == (1, 1, -1)
    patch({"overlap": 4})
    assert counters(cluster_app, feed)[tasks[0]["_task_hash"]] == (1, 1, 2)
    patch({"overlap_mode": "full"})
    assert counters(cluster_app, feed)[tasks[0]["_task_hash"]] == (1, 1, slots.UNLIMITED - 2)
    patch({"overlap_mode": "partial", "overlap": 2, "partial_fraction": 0.5})
    patch({"quota": 5})
    patch({"overlap_mode": "number", "overlap": 1})
    # The lease held past the lowered overlap can still be answered.
    held = ask(cluster, signer, feed, "ann-b", 1)
    assert submit(cluster, signer, feed, "ann-b", held[0]["_task_hash"]).status_code == 200
    assert_consistent(cluster_app, feed)


def test_patch_reaches_cached_claim(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    """Claims after a PATCH follow the new overlap, though the claim statement is cached."""
    dataset = import_jsonl("source", jsonl(texts(2)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    assert len(ask(cluster, signer, feed, "ann-a", 2)) == 2
    assert ask(cluster, signer, feed, "ann-b", 2) == []
    cluster.patch(f"/api/feeds/{feed}", json={"overlap": 2}, headers=signer.headers())
    assert len(ask(cluster, signer, feed, "ann-b", 2)) == 2
    assert ask(cluster, signer, feed, "ann-c", 2) == []
    cluster.patch(f"/api/feeds/{feed}", json={"overlap_mode": "full"}, headers=signer.headers())
    assert len(ask(cluster, signer, feed, "ann-c", 2)) == 2
    cluster.patch(
        f"/api/feeds/{feed}",
        json={"overlap_mode": "number", "overlap": 1},
        headers=signer.headers(),
    )
    assert ask(cluster, signer, feed, "ann-d", 2) == []
    assert_consistent(cluster_app, feed)


def test_undo_keeps_free(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(2)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=2)
    [task] = ask(cluster, signer, feed, "ann-a", 1)
    task_hash = task["_task_hash"]
    assert submit(cluster, signer, feed, "ann-a", task_hash).status_code == 200
    undo = cluster.post(f"/api/feeds/{feed}/undo", headers=signer.headers(role="annotator", user="ann-a"))
    assert undo.status_code == 200, undo.text
    assert counters(cluster_app, feed)[task_hash] == (0, 1, 1)
    # Nothing left to undo: the counters stay.
    cluster.post(f"/api/feeds/{feed}/undo", headers=signer.headers(role="annotator", user="ann-a"))
    assert counters(cluster_app, feed)[task_hash] == (0, 1, 1)
    assert_consistent(cluster_app, feed)


def test_undo_after_lease_expired(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    """Undo leases the example back even when the slot was taken meanwhile."""
    dataset = import_jsonl("source", jsonl(texts(1)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    [task] = ask(cluster, signer, feed, "ann-a", 1)
    assert submit(cluster, signer, feed, "ann-a", task["_task_hash"]).status_code == 200
    undo = cluster.post(f"/api/feeds/{feed}/undo", headers=signer.headers(role="annotator", user="ann-a"))
    assert undo.status_code == 200, undo.text
    expire_leases_of(cluster_app, feed, "ann-a")
    assert len(ask(cluster, signer, feed, "ann-b", 1)) == 1
    assert counters(cluster_app, feed)[task["_task_hash"]] == (0, 1, 0)
    assert_consistent(cluster_app, feed)


def test_skip_releases_once(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(3)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    [held] = ask(cluster, signer, feed, "ann-a", 1)
    for _ in range(2):
        response = cluster.post(
            f"/api/feeds/{feed}/skip",
            json={"task_hash": held["_task_hash"]},
            headers=signer.headers(role="annotator", user="ann-a"),
        )
        assert response.status_code == 200, response.text
        assert counters(cluster_app, feed)[held["_task_hash"]] == (0, 0, 1)
    # Skipping an example held by someone else leaves their lease counted.
    unheld = ask(cluster, signer, feed, "ann-b", 1)[0]
    response = cluster.post(
        f"/api/feeds/{feed}/skip",
        json={"task_hash": unheld["_task_hash"]},
        headers=signer.headers(role="annotator", user="ann-a"),
    )
    assert response.status_code == 200, response.text
    assert counters(cluster_app, feed)[unheld["_task_hash"]] == (0, 1, 0)
    assert_consistent(cluster_app, feed)


def test_skip_expired_unpurged_lease(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(1)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    [task] = ask(cluster, signer, feed, "ann-a", 1)
    expire_leases_of(cluster_app, feed, "ann-a")
    response = cluster.post(
        f"/api/feeds/{feed}/skip",
        json={"task_hash": task["_task_hash"]},
        headers=signer.headers(role="annotator", user="ann-a"),
    )
    assert response.status_code == 200, response.text
    assert counters(cluster_app, feed)[task["_task_hash"]] == (0, 0, 1)
    assert_consistent(cluster_app, feed)


def test_expired_leases_count_until_purged(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(2)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    held = ask(cluster, signer, feed, "ann-a", 2)
    expire_leases_of(cluster_app, feed, "ann-a")
    assert set(counters(cluster_app, feed).values()) == {(0, 1, 0)}
    # Progress counts open work with a purge that it does not keep.
    progress = cluster.get(f"/api/feeds/{feed}/progress", headers=signer.headers(role="annotator", user="ann-b"))
    assert progress.status_code == 200, progress.text
    assert progress.json()["mine"]["available"] == 2
    assert_consistent(cluster_app, feed)
    taken = ask(cluster, signer, feed, "ann-b", 1)
    assert taken[0]["_task_hash"] == held[0]["_task_hash"]
    rows = counters(cluster_app, feed)
    assert rows[held[0]["_task_hash"]] == (0, 1, 0)
    assert rows[held[1]["_task_hash"]] == (0, 0, 1)
    assert_consistent(cluster_app, feed)


def test_late_answer_without_lease(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(2)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    first, second = ask(cluster, signer, feed, "ann-a", 2)
    expire_leases_of(cluster_app, feed, "ann-a")
    # ann-b's claim purges the first lease and takes its slot, so that answer is rejected.
    assert ask(cluster, signer, feed, "ann-b", 1)[0]["_task_hash"] == first["_task_hash"]
    rejected = submit(cluster, signer, feed, "ann-a", first["_task_hash"])
    assert rejected.status_code == 409, rejected.text
    # The second is expired but not purged: the answer deletes it and is stored.
    late = submit(cluster, signer, feed, "ann-a", second["_task_hash"])
    assert late.status_code == 200, late.text
    rows = counters(cluster_app, feed)
    assert rows[first["_task_hash"]] == (0, 1, 0)
    assert rows[second["_task_hash"]] == (1, 0, 0)
    assert_consistent(cluster_app, feed)


def test_answer_never_leased(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(2)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    with context_of(cluster_app).db.sessions() as session:
        hashes = list(
            session.scalars(
                select(Example.task_hash).where(Example.dataset_id == dataset["id"])
            )
        )
    assert submit(cluster, signer, feed, "ann-a", hashes[0]).status_code == 200
    assert counters(cluster_app, feed)[hashes[0]] == (1, 0, 0)
    assert ask(cluster, signer, feed, "ann-b", 5)[0]["_task_hash"] == hashes[1]
    assert_consistent(cluster_app, feed)


def test_duplicate_retry_counts_once(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(2)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=2)
    [task] = ask(cluster, signer, feed, "ann-a", 1)
    task_hash = task["_task_hash"]
    first = submit(cluster, signer, feed, "ann-a", task_hash, answer_id="retry-1")
    assert first.json()["stored"] == ["retry-1"]
    for answer_id in ("retry-1", "retry-2"):
        again = submit(cluster, signer, feed, "ann-a", task_hash, answer_id=answer_id)
        assert again.json()["duplicates"] == [answer_id]
        assert counters(cluster_app, feed)[task_hash] == (1, 0, 1)
    assert_consistent(cluster_app, feed)


def test_batch_with_next_counts(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    dataset = import_jsonl("source", jsonl(texts(4)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    held = ask(cluster, signer, feed, "ann-a", 2)
    response = cluster.post(
        f"/api/feeds/{feed}/answers",
        json={
            "answers": [
                {"answer_id": f"a{index}", "task_hash": task["_task_hash"], "answer": "accept"}
                for index, task in enumerate(held)
            ]
            + [{"answer_id": "a0", "task_hash": held[0]["_task_hash"], "answer": "accept"}],
            "next": 2,
        },
        headers=signer.headers(role="annotator", user="ann-a"),
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["tasks"]) == 2
    assert sorted(counters(cluster_app, feed).values()) == [(0, 1, 0), (0, 1, 0), (1, 0, 0), (1, 0, 0)]
    assert_consistent(cluster_app, feed)


# Counters built by the migration ---------------------------------------------


def bucket_hash(bucket: int) -> int:
    """Find a task hash whose partial-overlap bucket is ``bucket``."""
    return next(value for value in range(1, 10**7) if slots.partial_bucket(value) == bucket)


def test_migration_threshold_matches_python(tmp_path: Path, test_databases: DatabaseFactory) -> None:
    """Revision 0004 gives partial feeds the overlap ``example_overlap`` computes.

    0.00025 * 10000 is exactly 2.5 in floating point. Python's round() gives 2,
    so the backfill must use threshold 2 too, or bucket 2 gets the wrong overlap.
    """
    server = test_databases.server
    url = server.create_database() if server is not None else sqlite_url(tmp_path / "c.db")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "0003")
    engine = create_engine(url)
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO datasets (id, project_id, name, role, created_at) "
                "VALUES ('d', 'p', 'source', 'source', :now)"
            ),
            {"now": now},
        )
        for index, bucket in enumerate((1, 2, 3), start=1):
            connection.execute(
                text(
                    "INSERT INTO examples (id, dataset_id, position, input_hash, task_hash, task) "
                    "VALUES (:id, 'd', :id, :id, :hash, '{}')"
                ),
                {"id": index, "hash": bucket_hash(bucket)},
            )
        connection.execute(
            text(
                "INSERT INTO feeds (id, project_id, dataset_id, name, interface, labels, "
                "options, multiple, overlap, lease_seconds, instructions, created_at, "
                "overlap_mode, partial_fraction) VALUES ('f', 'p', 'd', 'f', 'binary', "
                "'[]', '[]', false, 3, 600, '', :now, 'partial', 0.00025)"
            ),
            {"now": now},
        )
    engine.dispose()

    command.upgrade(config, "head")

    database = Database(url)
    try:
        with database.sessions() as session:
            feed = session.get(Feed, "f")
            assert feed is not None
            rows = session.execute(select(FeedSlot.task_hash, FeedSlot.needed)).all()
            wrong = [
                (task_hash, needed, slots.example_overlap(feed, task_hash))
                for task_hash, needed in rows
                if needed != slots.example_overlap(feed, task_hash)
            ]
    finally:
        database.dispose()
    assert len(rows) == 3
    assert wrong == []


# Races between requests -----------------------------------------------------


@contextmanager
def pause_in(
    engine: Engine,
    thread_name: str,
    where: Callable[[str], bool] | None,
    reached: threading.Event,
    resume: threading.Event,
) -> Iterator[None]:
    """Hold the named thread before a matching statement, or before its commit.

    ``where`` None pauses at the commit. On SQLite the commit event runs after
    the writer lock's own commit, so that pause comes after the commit there.
    """

    def wait_once() -> None:
        if threading.current_thread().name != thread_name or reached.is_set():
            return
        reached.set()
        resume.wait(PAUSE_SECONDS)

    def before_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:  # noqa: ANN401
        if where is not None and where(statement):
            wait_once()

    def before_commit(_conn: Any) -> None:  # noqa: ANN401
        if where is None:
            wait_once()

    event.listen(engine, "before_cursor_execute", before_statement)
    event.listen(engine, "commit", before_commit)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", before_statement)
        event.remove(engine, "commit", before_commit)


class Worker(threading.Thread):
    """Run ``work`` in a named thread and keep its result or exception."""

    def __init__(self, name: str, work: Callable[[], Any]) -> None:
        super().__init__(name=name, daemon=True)
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def finish(self, timeout: float = 30.0) -> Any:  # noqa: ANN401
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} did not finish in {timeout} s"
        if self.error is not None:
            raise self.error
        return self.result


def manager() -> Principal:
    return Principal(
        user_id="manager-1",
        name="manager-1",
        project_id="project-a",
        role="manager",
        expires_at=int(time.time()) + 900,
        feeds=("*",),
    )


def annotator(user: str) -> Principal:
    return Principal(
        user_id=user,
        name=user,
        project_id="project-a",
        role="annotator",
        expires_at=int(time.time()) + 900,
        feeds=("*",),
    )


def import_in_thread(context: ClusterContext, dataset_id: str, lines: list[str]) -> Worker:
    spool = tempfile.TemporaryFile()
    spool.write(jsonl(lines))
    spool.seek(0)
    with context.db.sessions() as session:
        dataset = session.get(Dataset, dataset_id)
    assert dataset is not None

    def run() -> Any:  # noqa: ANN401
        with spool:
            return write_import(context, dataset, spool)

    return Worker("importer", run)


def test_feed_created_during_import(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    """A feed created while an import is open still gets slots for its examples."""
    context = context_of(cluster_app)
    dataset = import_jsonl("source", jsonl(texts(2)))
    importer = import_in_thread(context, dataset["id"], texts(3, "added"))
    reached, resume = threading.Event(), threading.Event()
    with pause_in(context.db.engine, "importer", None, reached, resume):
        importer.start()
        assert reached.wait(10)
        spec = FeedCreate(dataset_id=dataset["id"], name="late", interface="binary", label="DOC")
        feed = create_feed(context, manager(), spec)
        resume.set()
        importer.finish()
    with context.db.sessions() as session:
        missing = slots.missing_slots(session, feed)
    assert missing == 0
    assert len(ask(cluster, signer, feed.id, "ann-a", 10)) == 5


def test_patch_during_import(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    """An overlap change while an import is open reaches the imported examples."""
    context = context_of(cluster_app)
    dataset = import_jsonl("source", jsonl(texts(2)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    importer = import_in_thread(context, dataset["id"], texts(3, "added"))
    reached, resume = threading.Event(), threading.Event()
    with pause_in(context.db.engine, "importer", None, reached, resume):
        importer.start()
        assert reached.wait(10)
        update_feed(context, manager(), feed, FeedUpdate(overlap=3))
        resume.set()
        importer.finish()
    assert_consistent(cluster_app, feed)


def test_answer_racing_a_claim(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    """An answer whose lease expires mid-request cannot push the example past its overlap.

    The answer starts while its lease is live, so it skips the room check
    (rule 10). The lease then expires and another annotator claims the
    example before the answer deletes the lease.
    """
    context = context_of(cluster_app)
    dataset = import_jsonl("source", jsonl(texts(1)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    [task] = ask(cluster, signer, feed, "ann-a", 1)
    expiry = utcnow() + timedelta(seconds=0.5)
    expire_leases_of(cluster_app, feed, "ann-a", at=expiry)

    batch = AnswerBatch(
        answers=[AnswerIn(answer_id="late-1", task_hash=task["_task_hash"], answer="accept")]
    )
    answerer = Worker("answerer", lambda: submit_answers(context, annotator("ann-a"), feed, batch))

    def claim() -> int:
        with context.db.transaction() as session:
            found = get_feed(session, annotator("ann-b"), feed)
            return len(next_batch(session, found, "ann-b", 1, context).tasks)

    claimer = Worker("claimer", claim)
    reached, resume = threading.Event(), threading.Event()
    releasing = lambda statement: statement.startswith("DELETE FROM leases")  # noqa: E731
    with pause_in(context.db.engine, "answerer", releasing, reached, resume):
        answerer.start()
        assert reached.wait(10)
        time.sleep(max(0.0, (expiry - utcnow()).total_seconds()) + 0.1)
        claimer.start()
        # On SQLite the claim waits for the answer's write lock, so it cannot
        # finish before the pause ends. On PostgreSQL it finishes at once.
        claimer.join(PAUSE_SECONDS / 2)
        resume.set()
        try:
            stored = answerer.finish().stored
        except Unavailable:
            # The lease vanished under the answer: nothing is stored, and the
            # client's retry goes through the room check.
            stored = []
        claimed = claimer.finish()

    now = utcnow()
    with context.db.sessions() as session:
        answered = set(
            session.scalars(select(Annotation.annotator_id).where(Annotation.feed_id == feed))
        )
        leased = set(
            session.scalars(
                select(Lease.annotator_id).where(Lease.feed_id == feed, Lease.expires_at > now)
            )
        )
    # Either the late answer or the new lease may win, never both.
    assert len(stored) + claimed == 1
    assert len(answered | leased) == 1
    assert_consistent(cluster_app, feed)


def test_patch_racing_a_claim(
    cluster_app: FastAPI, cluster: TestClient, signer: Signer, import_jsonl: ImportFn
) -> None:
    """An overlap change while a claim purges and leases lets both finish."""
    context = context_of(cluster_app)
    dataset = import_jsonl("source", jsonl(texts(3)))
    feed = make_feed(cluster, signer, dataset["id"], overlap=1)
    first, *_rest = ask(cluster, signer, feed, "ann-a", 3)
    response = cluster.post(
        f"/api/feeds/{feed}/skip",
        json={"task_hash": first["_task_hash"]},
        headers=signer.headers(role="annotator", user="ann-a"),
    )
    assert response.status_code == 200, response.text
    expire_leases_of(cluster_app, feed, "ann-a")

    def claim() -> int:
        with context.db.transaction() as session:
            found = get_feed(session, annotator("ann-b"), feed)
            return len(next_batch(session, found, "ann-b", 1, context).tasks)

    claimer = Worker("claimer", claim)
    patcher = Worker(
        "patcher", lambda: update_feed(context, manager(), feed, FeedUpdate(overlap=2))
    )
    reached, resume = threading.Event(), threading.Event()
    leasing = lambda statement: statement.startswith("INSERT INTO leases")  # noqa: E731
    with pause_in(context.db.engine, "claimer", leasing, reached, resume):
        claimer.start()
        assert reached.wait(10)
        patcher.start()
        # Long enough for the PATCH to reach the slot rows the claim purged.
        patcher.join(0.5)
        resume.set()
        claimed = claimer.finish()
        patcher.finish()
    assert claimed == 1
    assert_consistent(cluster_app, feed)
