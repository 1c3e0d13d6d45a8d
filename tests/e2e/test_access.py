"""Access across both planes: deactivation, and no example text in any response.

Both planes run as real uvicorn servers on 127.0.0.1. The control plane is
wrapped in a recorder that keeps every response body it sends, to people and
to the cluster alike.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from concord.cluster.app import create_app as create_cluster
from concord.cluster.settings import ClusterSettings
from concord.common.db import sqlite_url
from concord.control.app import create_app as create_control
from concord.control.settings import ControlSettings
from tests.conftest import DatabaseFactory
from tests.postgres import database_bytes

from .servers import Served, free_port, serve, wait_until

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "e2e-admin-password"
TOKEN_SECONDS = 3
CANARY = f"CANARY-{uuid.uuid4().hex} a sentence that must stay on the cluster"


class ResponseRecorder:
    """ASGI wrapper that keeps the bytes of every response body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def record(message: Message) -> None:
            if message["type"] == "http.response.body":
                self.bodies.append(message.get("body", b""))
            elif message["type"] == "http.response.start":
                self.bodies.append(b"\n".join(value for _, value in message["headers"]))
            await send(message)

        await self.app(scope, receive, record)


@dataclass
class Planes:
    control_url: str
    cluster_url: str
    recorder: ResponseRecorder
    data_dir: Path
    servers: list[Served]
    control_database_url: str
    cluster_database_url: str


@pytest.fixture
def planes(tmp_path: Path, test_databases: DatabaseFactory) -> Iterator[Planes]:
    join_token = uuid.uuid4().hex
    control_database, cluster_database = test_databases.control(), test_databases.cluster()
    control_port, cluster_port = free_port(), free_port()
    control_url = f"http://127.0.0.1:{control_port}"
    recorder = ResponseRecorder(
        create_control(
            ControlSettings(
                data_dir=tmp_path,
                database_url=control_database,
                port=control_port,
                admin_password=ADMIN_PASSWORD,
                join_token=join_token,
                password_hash_fast=True,
                access_token_seconds=TOKEN_SECONDS,
            )
        )
    )
    control = serve(recorder, control_port)
    cluster = serve(
        create_cluster(
            ClusterSettings(
                data_dir=tmp_path,
                database_url=cluster_database,
                port=cluster_port,
                control_url=control_url,
                join_token=join_token,
                outbox_max_backoff_seconds=0.5,
            )
        ),
        cluster_port,
    )
    cluster_url = f"http://127.0.0.1:{cluster_port}"
    wait_until(lambda: httpx.get(f"{cluster_url}/api/health").json()["joined"], "join")
    yield Planes(
        control_url,
        cluster_url,
        recorder,
        tmp_path,
        [cluster, control],
        control_database or sqlite_url(tmp_path / "control.db"),
        cluster_database or sqlite_url(tmp_path / "cluster.db"),
    )
    for served in (cluster, control):
        served.stop()


def login(control_url: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=control_url, timeout=30)
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.headers["Authorization"] = f"Bearer {response.json()['token']}"
    return client


def cluster_client(control: httpx.Client, project_id: str) -> httpx.Client:
    grant = control.post(f"/api/projects/{project_id}/cluster-token")
    assert grant.status_code == 200, grant.text
    body = grant.json()
    return httpx.Client(
        base_url=body["cluster_url"],
        timeout=60,
        headers={"Authorization": f"Bearer {body['token']}"},
    )


def refreshed(control: httpx.Client, project_id: str, cluster: httpx.Client) -> httpx.Client:
    """Renew the short-lived cluster token, as the command line does."""
    cluster.close()
    return cluster_client(control, project_id)


def create_member(admin: httpx.Client, project_id: str, username: str, role: str) -> None:
    created = admin.post("/api/users", json={"username": username, "password": "member-password-1"})
    assert created.status_code == 201, created.text
    member = admin.put(
        f"/api/projects/{project_id}/members", json={"username": username, "role": role}
    )
    assert member.status_code == 200, member.text


def add_to_feed(admin: httpx.Client, feed_id: str, usernames: list[str]) -> None:
    wait_until(lambda: admin.get(f"/api/feeds/{feed_id}").status_code == 200, "feed event")
    response = admin.put(f"/api/feeds/{feed_id}/members", json={"usernames": usernames})
    assert response.status_code == 200, response.text


def import_file(cluster: httpx.Client, name: str, body: bytes) -> str:
    dataset = cluster.post("/api/datasets", json={"name": name})
    assert dataset.status_code == 201, dataset.text
    imported = cluster.post(f"/api/datasets/{dataset.json()['id']}/import", content=body)
    assert imported.status_code == 200, imported.text
    return dataset.json()["id"]


def test_deactivation_reaches_both_planes(planes: Planes, shared_data: Path) -> None:
    admin = login(planes.control_url, "admin", ADMIN_PASSWORD)
    project = admin.post("/api/projects", json={"name": "access"}).json()
    create_member(admin, project["id"], "alice", "annotator")
    manager = cluster_client(admin, project["id"])
    raw = shared_data / "prodigy-textcat-binary-github-docs" / "raw_github-issue-titles.jsonl"
    dataset_id = import_file(manager, "titles", b"\n".join(raw.read_bytes().splitlines()[:20]))
    feed = manager.post(
        "/api/feeds",
        json={"dataset_id": dataset_id, "name": "f", "interface": "binary", "label": "DOCUMENTATION"},
    ).json()
    add_to_feed(admin, feed["id"], ["alice"])

    alice = login(planes.control_url, "alice", "member-password-1")
    alice_cluster = cluster_client(alice, project["id"])
    assert alice_cluster.post(f"/api/feeds/{feed['id']}/next", json={"count": 1}).status_code == 200
    entered = httpx.post(
        f"{planes.cluster_url}/auth/enter",
        data={"token": alice_cluster.headers["Authorization"][7:], "next": f"/annotate/{feed['id']}"},
    )
    page = httpx.Client(base_url=planes.cluster_url, cookies=entered.cookies)
    assert page.get(f"/annotate/{feed['id']}", follow_redirects=False).status_code == 200

    users = {user["username"]: user["id"] for user in admin.get("/api/users").json()}
    deactivated = admin.post(f"/api/users/{users['alice']}/deactivate")
    assert deactivated.status_code == 200, deactivated.text

    assert alice.get("/api/me").status_code == 401
    assert alice.post(f"/api/projects/{project['id']}/cluster-token").status_code == 401
    relogin = httpx.post(
        f"{planes.control_url}/api/auth/login",
        json={"username": "alice", "password": "member-password-1"},
    )
    assert relogin.status_code == 401
    time.sleep(TOKEN_SECONDS + 1)
    after = alice_cluster.post(f"/api/feeds/{feed['id']}/next", json={"count": 1})
    assert after.status_code == 401
    redirected = page.get(f"/annotate/{feed['id']}", follow_redirects=False)
    assert redirected.status_code == 303
    assert redirected.headers["location"] == f"{planes.control_url}/feeds/{feed['id']}/open"


def texts_of(path: Path) -> set[str]:
    found = set()
    for line in path.read_bytes().splitlines():
        if line.strip():
            text = orjson.loads(line).get("text")
            if isinstance(text, str) and len(text) >= 20:
                found.add(text)
    return found


def test_control_responses_hold_no_text(
    planes: Planes, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    multi = shared_data / "prodigy-multiannotator-textcat-pydata-ams-2023" / "pydata-ams-2023.jsonl"
    raw = shared_data / "prodigy-textcat-binary-github-docs" / "raw_github-issue-titles.jsonl"
    raw_body = orjson.dumps({"text": CANARY}) + b"\n" + raw.read_bytes()

    admin = login(planes.control_url, "admin", ADMIN_PASSWORD)
    project = admin.post("/api/projects", json={"name": "private"}).json()

    def manager() -> httpx.Client:
        # Access tokens live TOKEN_SECONDS here, so each call gets a new one.
        return cluster_client(admin, project["id"])

    multi_id = import_file(manager(), "workshop", multi.read_bytes())
    raw_id = import_file(manager(), "titles", raw_body)
    assert manager().post("/api/agreement", json={"dataset_id": multi_id}).status_code == 200
    gold = manager().post("/api/gold", json={"dataset_id": multi_id, "name": "workshop-gold"})
    assert gold.status_code == 200
    feed = manager().post(
        "/api/feeds",
        json={
            "dataset_id": raw_id,
            "name": "triage",
            "interface": "binary",
            "label": "DOCUMENTATION",
            "overlap": 2,
        },
    ).json()
    names = ["ann1", "ann2", "ann3"]
    for username in names:
        create_member(admin, project["id"], username, "annotator")
    add_to_feed(admin, feed["id"], names)
    standing = 0
    for username in names:
        person = login(planes.control_url, username, "member-password-1")
        cluster = cluster_client(person, project["id"])
        for round_number in range(3):
            tasks = cluster.post(f"/api/feeds/{feed['id']}/next", json={"count": 5}).json()["tasks"]
            answers = [
                {"answer_id": uuid.uuid4().hex, "task_hash": t["_task_hash"], "answer": "accept"}
                for t in tasks
            ]
            stored = cluster.post(f"/api/feeds/{feed['id']}/answers", json={"answers": answers})
            standing += len(stored.json()["stored"])
            cluster = refreshed(person, project["id"], cluster)
        if cluster.post(f"/api/feeds/{feed['id']}/undo").json()["undone"]:
            standing -= 1
    assert manager().post("/api/agreement", json={"feed_id": feed["id"]}).status_code == 200
    manager().get(f"/api/feeds/{feed['id']}/export").raise_for_status()
    wait_until(
        lambda: admin.get(f"/api/feeds/{feed['id']}/progress").json()["answers"] == standing,
        "events reach the control plane",
    )

    for path in (
        f"/api/projects/{project['id']}/datasets",
        f"/api/projects/{project['id']}/feeds",
        f"/api/feeds/{feed['id']}",
        f"/api/agreement/feed/{feed['id']}",
        f"/api/agreement/dataset/{multi_id}",
        f"/api/gold/dataset/{multi_id}",
        "/api/audit",
    ):
        assert admin.get(path).status_code == 200, path
    browser = httpx.Client(base_url=planes.control_url, follow_redirects=True)
    form = browser.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    home = browser.post(
        "/login",
        data={"csrf_token": csrf.group(1), "next": "/", "username": "admin", "password": ADMIN_PASSWORD},
    )
    assert "triage" in home.text
    browser.get(f"/feeds/{feed['id']}/open")

    sent = b"".join(planes.recorder.bodies).decode("utf-8", errors="replace")
    assert len(planes.recorder.bodies) > 100
    # The recorder does see what the control plane may hold: names and labels.
    assert "triage" in sent
    assert "DOCUMENTATION" in sent
    assert CANARY not in sent
    texts = texts_of(multi) | texts_of(raw)
    leaked = [text for text in texts if text in sent]
    assert leaked == []

    stored = database_bytes(planes.control_database_url)
    assert CANARY.encode() not in stored
    assert [text for text in texts if text.encode() in stored] == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "imported" in logged
    assert CANARY not in logged
    assert [text for text in texts if text in logged] == []
    assert CANARY.encode() in database_bytes(planes.cluster_database_url)
