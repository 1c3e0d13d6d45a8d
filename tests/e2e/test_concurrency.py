"""Hundreds of annotators at once on one cluster, and on replicas behind nginx.

200 scripted annotator sessions answer 3000 examples of a feed with overlap 2,
or with partial overlap (2 annotators for 30 % of the examples, 1 for the
rest), until no work is left. Half the sessions ask for tasks with ``next``,
the other half get them in the response to their answers. The database must
then show: nobody answered an example twice, every example has exactly its
overlap of answers, no lease is left, no answer id is stored twice, every
acknowledged answer is stored, and the claim counters match the tables.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from concord.cluster.database import Database
from concord.cluster import slots
from concord.cluster.models import Annotation, Example, Feed, Lease
from concord.cluster.slots import example_overlap
from tests.cluster.conftest import Signer
from tests.conftest import DatabaseFactory
from tests.postgres import PostgresServer

from .fleet import Fleet, start_fleet
from .load import Annotator, Ledger, join_all, run_annotators

pytestmark = pytest.mark.e2e

SESSIONS = 200
EXAMPLES = 3000
OVERLAP = 2
RUN_SECONDS = 240.0
PROJECT = "project-a"


def source_lines(shared_data: Path) -> bytes:
    path = shared_data / "raw-reddit-cooking-10k" / "reddit_r_cooking_sample.jsonl"
    with path.open("rb") as lines:
        return b"".join(itertools.islice(lines, EXAMPLES))


def create_feed(
    url: str, signer: Signer, body: bytes, settings: dict[str, object] | None = None
) -> str:
    headers = signer.headers(project=PROJECT, role="manager", user="manager")
    with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
        dataset = client.post("/api/datasets", json={"name": "cooking"})
        assert dataset.status_code == 201, dataset.text
        dataset_id = dataset.json()["id"]
        imported = client.post(f"/api/datasets/{dataset_id}/import", content=body)
        assert imported.status_code == 200, imported.text
        feed = client.post(
            "/api/feeds",
            json={
                "dataset_id": dataset_id,
                "name": "food",
                "interface": "binary",
                "label": "FOOD",
                "overlap": OVERLAP,
                **(settings or {}),
            },
        )
        assert feed.status_code == 201, feed.text
        return str(feed.json()["id"])


@pytest.fixture(params=[1, 3], ids=["one-replica", "three-replicas"])
def fleet(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    signer: Signer,
    test_databases: DatabaseFactory,
) -> Iterator[Fleet]:
    """One replica on the test database, or three on PostgreSQL behind nginx."""
    replicas: int = request.param
    if replicas == 1:
        database_url = test_databases.cluster()
    elif test_databases.server is not None:
        pytest.skip("the SQLite run already runs the replicas on PostgreSQL")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        database_url = server.create_database()
    running = start_fleet(tmp_path / "fleet", database_url, replicas, signer)
    yield running
    running.stop()


MODES = {
    "overlap-2": {},
    "partial": {"overlap_mode": "partial", "partial_fraction": 0.3},
}


@pytest.fixture
def signer() -> Signer:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Signer(key=Ed25519PrivateKey.generate(), cluster_id="concurrency")


@pytest.mark.parametrize("mode", sorted(MODES))
def test_many_annotators_exact_overlap(
    fleet: Fleet, signer: Signer, shared_data: Path, mode: str
) -> None:
    feed_id = create_feed(fleet.url, signer, source_lines(shared_data), MODES[mode])
    ledger = Ledger()
    annotators = []
    for index in range(SESSIONS):
        token = signer.token(
            project=PROJECT, role="annotator", user=f"annotator{index}", lifetime=900
        )
        annotators.append(
            Annotator(
                f"annotator{index}",
                fleet.url,
                feed_id,
                lambda t=token: t,
                ledger,
                next_with_answers=index % 2 == 1,
            )
        )

    join_all(run_annotators(annotators, RUN_SECONDS), RUN_SECONDS + 30)

    database = Database(fleet.database_url)
    try:
        with database.sessions() as session:
            feed = session.get(Feed, feed_id)
            assert feed is not None
            rows = session.execute(
                select(
                    Annotation.answer_id, Annotation.example_id, Annotation.annotator_id
                ).where(Annotation.feed_id == feed_id)
            ).all()
            overlaps = {
                example_id: example_overlap(feed, task_hash)
                for example_id, task_hash in session.execute(
                    select(Example.id, Example.task_hash)
                )
            }
            leases = session.scalar(select(func.count()).select_from(Lease))
            drift = slots.drift(session, feed_id)
    finally:
        database.dispose()
    answer_ids = Counter(answer_id for answer_id, _, _ in rows)
    pairs = Counter((example_id, annotator_id) for _, example_id, annotator_id in rows)
    per_example = Counter(example_id for _, example_id, _ in rows)
    # The source repeats a few texts, which the import stores once.
    assert len(overlaps) > EXAMPLES * 0.99
    assert [pair for pair, count in pairs.items() if count > 1] == []
    assert [answer for answer, count in answer_ids.items() if count > 1] == []
    assert {
        example_id: per_example[example_id]
        for example_id, overlap in overlaps.items()
        if per_example[example_id] != overlap
    } == {}
    if mode == "partial":
        # Both kinds of example occur: the fraction splits them about 30/70.
        assert 0.2 < sum(1 for o in overlaps.values() if o == OVERLAP) / len(overlaps) < 0.4
    assert leases == 0
    assert drift == []
    assert set(ledger.acknowledged) == set(answer_ids)
