"""The cluster keeps working while the control plane is down and loses no event.

Both planes run as real uvicorn servers on 127.0.0.1. The control plane is
stopped, annotators keep answering on the cluster, and once the control plane
is back the outbox delivers every event exactly once as its counts show.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from concord.cluster.app import create_app as create_cluster
from concord.cluster.models import OutboxEvent
from concord.cluster.settings import ClusterSettings
from concord.control.app import create_app as create_control
from concord.control.settings import ControlSettings
from tests.conftest import DatabaseFactory

from .servers import Served, free_port, serve, wait_until

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "e2e-admin-password"
JOIN_TOKEN = "e2e-join-token-" + uuid.uuid4().hex


@dataclass
class Planes:
    control_url: str
    cluster_url: str
    control_settings: ControlSettings
    control: Served
    cluster: Served
    cluster_app: FastAPI

    def restart_control(self) -> None:
        self.control = serve(create_control(self.control_settings), self.control_settings.port)


@pytest.fixture
def planes(tmp_path: Path, test_databases: DatabaseFactory) -> Iterator[Planes]:
    control_port, cluster_port = free_port(), free_port()
    control_url = f"http://127.0.0.1:{control_port}"
    control_settings = ControlSettings(
        data_dir=tmp_path / "data",
        database_url=test_databases.control(),
        port=control_port,
        admin_password=ADMIN_PASSWORD,
        join_token=JOIN_TOKEN,
        password_hash_fast=True,
    )
    cluster_settings = ClusterSettings(
        data_dir=tmp_path / "data",
        database_url=test_databases.cluster(),
        port=cluster_port,
        control_url=control_url,
        join_token=JOIN_TOKEN,
        outbox_max_backoff_seconds=0.5,
    )
    control = serve(create_control(control_settings), control_port)
    cluster_app = create_cluster(cluster_settings)
    cluster = serve(cluster_app, cluster_port)
    cluster_url = f"http://127.0.0.1:{cluster_port}"
    wait_until(
        lambda: httpx.get(f"{cluster_url}/api/health").json()["joined"], "cluster join"
    )
    running = Planes(
        control_url, cluster_url, control_settings, control, cluster, cluster_app
    )
    yield running
    running.cluster.stop()
    if running.control.thread.is_alive():
        running.control.stop()


def test_answers_survive_control_outage(planes: Planes, shared_data: Path) -> None:
    control = httpx.Client(base_url=planes.control_url, timeout=10)
    login = control.post(
        "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    control.headers["Authorization"] = f"Bearer {login.json()['token']}"
    project = control.post("/api/projects", json={"name": "outage"}).json()
    grant = control.post(f"/api/projects/{project['id']}/cluster-token").json()
    cluster = httpx.Client(
        base_url=planes.cluster_url,
        timeout=30,
        headers={"Authorization": f"Bearer {grant['token']}"},
    )
    raw = shared_data / "prodigy-textcat-binary-github-docs" / "raw_github-issue-titles.jsonl"
    head = b"\n".join(raw.read_bytes().splitlines()[:30]) + b"\n"
    dataset = cluster.post("/api/datasets", json={"name": "titles"}).json()
    cluster.post(f"/api/datasets/{dataset['id']}/import", content=head).raise_for_status()
    feed = cluster.post(
        "/api/feeds",
        json={
            "dataset_id": dataset["id"],
            "name": "outage-feed",
            "interface": "binary",
            "label": "DOCUMENTATION",
        },
    ).json()
    wait_until(
        lambda: control.get(f"/api/feeds/{feed['id']}").status_code == 200,
        "feed.created delivery",
    )

    planes.control.stop()
    answered = 0
    for answer in ("accept", "reject", "ignore", "accept"):
        tasks = cluster.post(f"/api/feeds/{feed['id']}/next", json={"count": 3}).json()
        body = {
            "answers": [
                {"answer_id": uuid.uuid4().hex, "task_hash": t["_task_hash"], "answer": answer}
                for t in tasks["tasks"]
            ]
        }
        stored = cluster.post(f"/api/feeds/{feed['id']}/answers", json=body).json()
        answered += len(stored["stored"])
    undone = cluster.post(f"/api/feeds/{feed['id']}/undo").json()
    assert undone["undone"] is not None
    standing = answered - 1

    planes.restart_control()
    wait_until(
        lambda: control.get(f"/api/feeds/{feed['id']}/progress").json()["answers"] == standing,
        "outbox delivery after restart",
    )
    progress = control.get(f"/api/feeds/{feed['id']}/progress").json()
    assert progress["examples_started"] == standing
    admin = progress["annotators"][0]
    assert admin["accept"] + admin["reject"] + admin["ignore"] == standing

    export = cluster.get(f"/api/feeds/{feed['id']}/export")
    assert len([orjson.loads(line) for line in export.content.splitlines()]) == standing

    # Deliver every event a second time, as after a crash between sending and
    # marking: the control plane must count each one once.
    context = planes.cluster_app.state.context
    with context.db.transaction() as session:
        session.execute(update(OutboxEvent).values(delivered_at=None))
    context.outbox_ready.set()
    wait_until(lambda: _pending(context) == 0, "redelivery")
    again = control.get(f"/api/feeds/{feed['id']}/progress").json()
    assert again["answers"] == standing
    assert again["examples_started"] == standing


def _pending(context) -> int:
    with context.db.sessions() as session:
        query = select(func.count()).where(OutboxEvent.delivered_at.is_(None))
        return int(session.scalar(query))
