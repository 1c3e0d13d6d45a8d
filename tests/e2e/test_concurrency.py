"""Hundreds of annotators at once on one cluster, and on replicas behind nginx.

200 scripted annotator sessions answer 3000 examples of a feed with overlap 2
until no work is left. The database must then show: nobody answered an
example twice, every example has exactly its overlap of answers, no lease is
left, no answer id is stored twice, and every acknowledged answer is stored.
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
from concord.cluster.models import Annotation, Example, Lease
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


def create_feed(url: str, signer: Signer, body: bytes) -> str:
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


@pytest.fixture
def signer() -> Signer:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Signer(key=Ed25519PrivateKey.generate(), cluster_id="concurrency")


def test_many_annotators_exact_overlap(
    fleet: Fleet, signer: Signer, shared_data: Path
) -> None:
    feed_id = create_feed(fleet.url, signer, source_lines(shared_data))
    ledger = Ledger()
    annotators = []
    for index in range(SESSIONS):
        token = signer.token(
            project=PROJECT, role="annotator", user=f"annotator{index}", lifetime=900
        )
        annotators.append(
            Annotator(f"annotator{index}", fleet.url, feed_id, lambda t=token: t, ledger)
        )

    join_all(run_annotators(annotators, RUN_SECONDS), RUN_SECONDS + 30)

    database = Database(fleet.database_url)
    try:
        with database.sessions() as session:
            rows = session.execute(
                select(
                    Annotation.answer_id, Annotation.example_id, Annotation.annotator_id
                ).where(Annotation.feed_id == feed_id)
            ).all()
            examples = session.scalar(select(func.count()).select_from(Example))
            leases = session.scalar(select(func.count()).select_from(Lease))
    finally:
        database.dispose()
    answer_ids = Counter(answer_id for answer_id, _, _ in rows)
    pairs = Counter((example_id, annotator_id) for _, example_id, annotator_id in rows)
    per_example = Counter(example_id for _, example_id, _ in rows)
    # The source repeats a few texts, which the import stores once.
    assert examples > EXAMPLES * 0.99
    assert [pair for pair, count in pairs.items() if count > 1] == []
    assert [answer for answer, count in answer_ids.items() if count > 1] == []
    assert len(per_example) == examples
    assert set(per_example.values()) == {OVERLAP}
    assert leases == 0
    assert set(ledger.acknowledged) == set(answer_ids)
