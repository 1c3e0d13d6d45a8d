"""kill -9 a plane in the middle of a load run: no acknowledged answer is lost.

Both planes run as child processes (``start_planes``). Scripted annotators
answer a feed through the cluster while the test kills one plane with SIGKILL
and starts it again on the same data and port. Afterwards every answer the
cluster acknowledged is in its database, and the control plane, once
reachable, counts each stored answer exactly once.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from concord.cli.client import ControlClient
from concord.cli.context import ProjectAccess
from concord.cli.supervisor import (
    PlaneProcess,
    RunningPlanes,
    _spawn,
    _wait_until_ready,
    free_port,
    start_planes,
)
from concord.cluster.database import Database
from concord.cluster.models import Annotation
from tests.conftest import DatabaseFactory

from .conftest import TEST_ENV, database_env, poll
from .load import Annotator, Ledger, join_all, run_annotators

pytestmark = pytest.mark.e2e

ANNOTATORS = 6
EXAMPLES = 240
OVERLAP = 2
RUN_SECONDS = 120.0
PASSWORD = "durability-password"


@dataclass
class LoadSetup:
    planes: RunningPlanes
    env: dict[str, str]
    admin: ControlClient
    feed_id: str
    annotators: list[Annotator]
    ledger: Ledger
    cluster_database_url: str


def texts(shared_data: Path, count: int) -> bytes:
    source = shared_data / "raw-reddit-cooking-10k" / "reddit_r_cooking_sample.jsonl"
    with source.open("rb") as lines:
        return b"".join(itertools.islice(lines, count))


@pytest.fixture
def load(
    tmp_path: Path, test_databases: DatabaseFactory, shared_data: Path
) -> Iterator[LoadSetup]:
    env = {**TEST_ENV, **database_env(test_databases)}
    planes = start_planes(
        tmp_path, control_port=free_port(), cluster_port=free_port(), env=env
    )
    try:
        assert planes.credentials is not None
        admin = ControlClient(planes.control_url, planes.credentials.token)
        project = admin.create_project("durability")
        with ProjectAccess.open(admin, project) as manager:
            dataset = manager.cluster.create_dataset("cooking")
            manager.cluster.import_jsonl(dataset["id"], [texts(shared_data, EXAMPLES)])
            feed = manager.cluster.create_feed(
                {
                    "dataset_id": dataset["id"],
                    "name": "food",
                    "interface": "binary",
                    "label": "FOOD",
                    "overlap": OVERLAP,
                }
            )
        usernames = [f"annotator{index}" for index in range(ANNOTATORS)]
        for username in usernames:
            admin.create_user(username, PASSWORD)
            admin.set_member(project.id, username, "annotator")
        admin.set_feed_members(feed["id"], usernames)
        ledger = Ledger()
        annotators = []
        for username in usernames:
            with ControlClient(planes.control_url) as control:
                control.login(username, PASSWORD)
                # Fetched once: the tokens outlive the run, so annotators keep
                # working while the control plane is down.
                token = control.cluster_token(project.id).token
            annotators.append(
                Annotator(
                    username, planes.cluster_url, feed["id"], lambda t=token: t, ledger
                )
            )
        cluster_url = env.get("CONCORD_CLUSTER_DATABASE_URL") or (
            f"sqlite:///{tmp_path.resolve() / 'cluster.db'}"
        )
        yield LoadSetup(planes, env, admin, feed["id"], annotators, ledger, cluster_url)
        admin.close()
    finally:
        planes.stop()


def kill_and_restart(setup: LoadSetup, name: str) -> None:
    """SIGKILL the plane ``name`` and start it again on the same data and port."""
    planes = setup.planes
    plane: PlaneProcess = getattr(planes, name)
    os.kill(plane.pid, signal.SIGKILL)
    plane.process.wait(10)
    # A moment down, so requests fail and clients retry.
    time.sleep(1.0)
    port = int(plane.url.rsplit(":", 1)[1])
    child_env = {
        **os.environ,
        "CONCORD_DATA_DIR": str(planes.data_dir),
        "CONCORD_CONTROL_URL": planes.control_url,
        "CONCORD_CONTROL_PUBLIC_URL": planes.control_url,
        "CONCORD_CLUSTER_PUBLIC_URL": planes.cluster_url,
        "PYTHONUNBUFFERED": "1",
        **setup.env,
    }
    restarted = _spawn(name, planes.data_dir, "127.0.0.1", port, plane.url, child_env)
    setattr(planes, name, restarted)
    _wait_until_ready(planes, 120.0)


def run_with_kill(setup: LoadSetup, name: str) -> None:
    threads = run_annotators(setup.annotators, RUN_SECONDS)
    # Kill once a part of the work is acknowledged, while the rest is in flight.
    poll(lambda: len(setup.ledger.acknowledged), lambda n: n >= EXAMPLES // 3, 60)
    kill_and_restart(setup, name)
    join_all(threads, RUN_SECONDS + 30)


def stored_answers(url: str, feed_id: str) -> list[tuple[str, str]]:
    database = Database(url)
    try:
        with database.sessions() as session:
            rows = session.execute(
                select(Annotation.answer_id, Annotation.annotator_id).where(
                    Annotation.feed_id == feed_id
                )
            )
            return [(answer_id, annotator_id) for answer_id, annotator_id in rows]
    finally:
        database.dispose()


def check_invariants(setup: LoadSetup) -> None:
    stored = stored_answers(setup.cluster_database_url, setup.feed_id)
    stored_ids = [answer_id for answer_id, _ in stored]
    assert len(stored_ids) == len(set(stored_ids))
    missing = set(setup.ledger.acknowledged) - set(stored_ids)
    assert not missing, f"{len(missing)} acknowledged answers are not stored"
    # The annotators ran until no work was left, so the feed is complete.
    assert len(stored) == EXAMPLES * OVERLAP

    progress = poll(
        lambda: setup.admin.feed_progress(setup.feed_id),
        lambda p: p["answers"] >= len(stored),
        timeout=60,
    )
    assert progress["answers"] == len(stored)
    assert progress["examples_done"] == EXAMPLES
    per_annotator = {row["username"]: row["answers"] for row in progress["annotators"]}
    acknowledged_per_annotator = {
        annotator.username: sum(
            1
            for username, _ in setup.ledger.acknowledged.values()
            if username == annotator.username
        )
        for annotator in setup.annotators
    }
    assert per_annotator == {
        name: count for name, count in acknowledged_per_annotator.items() if count
    }, json.dumps({"control": per_annotator, "acknowledged": acknowledged_per_annotator})


def test_cluster_killed_mid_run(load: LoadSetup) -> None:
    run_with_kill(load, "cluster")

    assert load.ledger.errors > 0, "the kill should have failed some requests"
    check_invariants(load)


def test_control_killed_mid_run(load: LoadSetup) -> None:
    run_with_kill(load, "control")

    check_invariants(load)
