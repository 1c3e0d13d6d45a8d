"""Helpers for control plane tests: logins, joins, users and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from fastapi.testclient import TestClient

ADMIN_PASSWORD = "admin-password-for-tests"
BOOTSTRAP_JOIN_TOKEN = "bootstrap-join-token-for-tests"
CLUSTER_URL = "http://127.0.0.1:8081"
USER_PASSWORD = "user-password-for-tests"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: TestClient, username: str, password: str) -> dict[str, str]:
    response = client.post(
        "/api/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return bearer(response.json()["token"])


@dataclass
class JoinedCluster:
    id: str
    secret: str
    public_key: str
    headers: dict[str, str]


def join(
    client: TestClient, token: str, name: str = "main", url: str = CLUSTER_URL
) -> JoinedCluster:
    response = client.post(
        "/api/clusters/join", json={"join_token": token, "name": name, "url": url}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return JoinedCluster(
        id=body["cluster_id"],
        secret=body["cluster_secret"],
        public_key=body["public_key"],
        headers=bearer(body["cluster_secret"]),
    )


def create_user(
    client: TestClient, admin: dict[str, str], username: str, is_admin: bool = False
) -> dict[str, Any]:
    response = client.post(
        "/api/users",
        headers=admin,
        json={"username": username, "password": USER_PASSWORD, "is_admin": is_admin},
    )
    assert response.status_code == 201, response.text
    return response.json()


def create_project(
    client: TestClient, admin: dict[str, str], name: str = "news"
) -> dict[str, Any]:
    response = client.post("/api/projects", headers=admin, json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()


def add_member(
    client: TestClient,
    headers: dict[str, str],
    project_id: str,
    username: str,
    role: str,
) -> None:
    response = client.put(
        f"/api/projects/{project_id}/members",
        headers=headers,
        json={"username": username, "role": role},
    )
    assert response.status_code == 200, response.text


def add_feed_members(
    client: TestClient, headers: dict[str, str], feed_id: str, usernames: list[str]
) -> dict[str, Any]:
    response = client.put(
        f"/api/feeds/{feed_id}/members", headers=headers, json={"usernames": usernames}
    )
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class Team:
    """A project on the joined cluster with a manager and two annotators."""

    project_id: str
    cluster: JoinedCluster
    users: dict[str, dict[str, Any]]
    headers: dict[str, dict[str, str]]


def event(kind: str, cluster_id: str, project_id: str, **fields: Any) -> dict[str, Any]:
    """An event body with a fresh id and the envelope filled in."""
    return {
        "kind": kind,
        "event_id": uuid4().hex,
        "cluster_id": cluster_id,
        "project_id": project_id,
        "created_at": datetime.now(UTC).isoformat(),
        **fields,
    }


def send(
    client: TestClient, cluster: JoinedCluster, *events: dict[str, Any]
) -> dict[str, Any]:
    response = client.post(
        "/api/events", headers=cluster.headers, json={"events": list(events)}
    )
    assert response.status_code == 200, response.text
    return response.json()


@dataclass
class FeedSetup:
    dataset_id: str
    feed_id: str


def feed_events(
    team: Team,
    labels: list[str],
    overlap: int = 1,
    examples_total: int = 10,
    interface: str = "ner_manual",
) -> tuple[FeedSetup, list[dict[str, Any]]]:
    """The dataset.created and feed.created events of a new feed."""
    setup = FeedSetup(dataset_id=uuid4().hex, feed_id=uuid4().hex)
    envelope = (team.cluster.id, team.project_id)
    return setup, [
        event(
            "dataset.created",
            *envelope,
            dataset_id=setup.dataset_id,
            name="articles",
            role="source",
        ),
        event(
            "feed.created",
            *envelope,
            feed_id=setup.feed_id,
            dataset_id=setup.dataset_id,
            name="entities",
            interface=interface,
            labels=labels,
            multiple=False,
            overlap=overlap,
            lease_seconds=600,
            examples_total=examples_total,
        ),
    ]


def answer_event(
    team: Team,
    feed_id: str,
    annotator: str,
    task_hash: int,
    answer: str = "accept",
    labels: list[str] | None = None,
) -> dict[str, Any]:
    return event(
        "answer.created",
        team.cluster.id,
        team.project_id,
        feed_id=feed_id,
        annotation_id=uuid4().hex,
        annotator_id=team.users[annotator]["id"],
        input_hash=task_hash // 2,
        task_hash=task_hash,
        answer=answer,
        labels=labels or [],
    )


def undo_event(team: Team, answer: dict[str, Any]) -> dict[str, Any]:
    return event(
        "answer.undone",
        team.cluster.id,
        team.project_id,
        feed_id=answer["feed_id"],
        annotation_id=answer["annotation_id"],
        annotator_id=answer["annotator_id"],
    )
