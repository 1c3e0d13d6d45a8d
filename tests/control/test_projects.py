from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from .support import (
    USER_PASSWORD,
    FeedSetup,
    JoinedCluster,
    Team,
    add_member,
    create_project,
    create_user,
    join,
    login,
)


def test_project_defaults_to_only_cluster(
    client: TestClient, admin: dict[str, str], cluster: JoinedCluster
) -> None:
    project = create_project(client, admin, "news")

    assert project["cluster_id"] == cluster.id
    assert project["cluster_url"] == "http://127.0.0.1:8081"
    assert project["role"] == "manager"
    assert len(project["id"]) == 32


def test_project_needs_a_cluster(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/api/projects", headers=admin, json={"name": "news"})

    assert response.status_code == 422
    assert "No cluster has joined" in response.json()["error"]["message"]


def test_project_cluster_choice_named(
    client: TestClient, admin: dict[str, str], cluster: JoinedCluster
) -> None:
    token = client.post("/api/clusters/join-tokens", headers=admin).json()["join_token"]
    second = join(client, token, name="second", url="http://127.0.0.1:9000")

    ambiguous = client.post("/api/projects", headers=admin, json={"name": "news"})
    chosen = client.post(
        "/api/projects", headers=admin, json={"name": "news", "cluster_id": second.id}
    )

    assert ambiguous.status_code == 422
    message = ambiguous.json()["error"]["message"]
    assert "'cluster_id'" in message
    assert cluster.id in message
    assert second.id in message
    assert chosen.status_code == 201
    assert chosen.json()["cluster_id"] == second.id


def test_project_unknown_cluster(
    client: TestClient, admin: dict[str, str], cluster: JoinedCluster
) -> None:
    response = client.post(
        "/api/projects", headers=admin, json={"name": "news", "cluster_id": "nope"}
    )

    assert response.status_code == 422
    assert "'nope'" in response.json()["error"]["message"]


def test_project_name_unique(
    client: TestClient, admin: dict[str, str], cluster: JoinedCluster
) -> None:
    create_project(client, admin, "news")

    response = client.post("/api/projects", headers=admin, json={"name": "news"})

    assert response.status_code == 409
    assert "'news' already exists" in response.json()["error"]["message"]


@pytest.mark.parametrize("name", ["", "has space", "a/b", "x" * 65])
def test_project_name_must_be_slug(
    client: TestClient, admin: dict[str, str], cluster: JoinedCluster, name: str
) -> None:
    response = client.post("/api/projects", headers=admin, json={"name": name})

    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "body.name"


def test_only_admin_creates_projects(client: TestClient, team: Team) -> None:
    response = client.post(
        "/api/projects", headers=team.headers["mia"], json={"name": "other"}
    )

    assert response.status_code == 403


def test_projects_listed_by_membership(
    client: TestClient, admin: dict[str, str], team: Team
) -> None:
    create_project(client, admin, "unrelated")

    alice = client.get("/api/projects", headers=team.headers["alice"]).json()
    outsider = client.get("/api/projects", headers=team.headers["outsider"]).json()
    everything = client.get("/api/projects", headers=admin).json()

    assert [(p["name"], p["role"]) for p in alice] == [("news", "annotator")]
    assert outsider == []
    assert [p["name"] for p in everything] == ["news", "unrelated"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/{project}",
        "/api/projects/{project}/members",
        "/api/projects/{project}/datasets",
        "/api/projects/{project}/feeds",
        "/api/feeds/{feed}",
        "/api/feeds/{feed}/progress",
        "/api/agreement/feed/{feed}",
        "/api/gold/feed/{feed}",
    ],
)
def test_non_member_gets_404(
    client: TestClient, team: Team, feed: FeedSetup, path: str
) -> None:
    url = path.format(project=team.project_id, feed=feed.feed_id)

    response = client.get(url, headers=team.headers["outsider"])

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_non_member_cannot_take_token(client: TestClient, team: Team) -> None:
    token = client.post(
        f"/api/projects/{team.project_id}/cluster-token",
        headers=team.headers["outsider"],
    )
    members = client.put(
        f"/api/projects/{team.project_id}/members",
        headers=team.headers["outsider"],
        json={"username": "outsider", "role": "manager"},
    )

    assert token.status_code == 404
    assert members.status_code == 404


def test_annotator_cannot_change_members(client: TestClient, team: Team) -> None:
    response = client.put(
        f"/api/projects/{team.project_id}/members",
        headers=team.headers["alice"],
        json={"username": "alice", "role": "manager"},
    )

    assert response.status_code == 403
    assert (
        "Your role in project 'news' is annotator"
        in response.json()["error"]["message"]
    )


def test_manager_adds_and_changes_members(client: TestClient, team: Team) -> None:
    url = f"/api/projects/{team.project_id}/members"

    added = client.put(
        url,
        headers=team.headers["mia"],
        json={"username": "outsider", "role": "reviewer"},
    )
    changed = client.put(
        url, headers=team.headers["mia"], json={"username": "bob", "role": "reviewer"}
    )
    members = client.get(url, headers=team.headers["outsider"]).json()

    assert added.json() == {
        "user_id": team.users["outsider"]["id"],
        "username": "outsider",
        "role": "reviewer",
    }
    assert changed.status_code == 200
    assert [(m["username"], m["role"]) for m in members] == [
        ("alice", "annotator"),
        ("bob", "reviewer"),
        ("mia", "manager"),
        ("outsider", "reviewer"),
    ]


def test_member_of_unknown_user(client: TestClient, team: Team) -> None:
    response = client.put(
        f"/api/projects/{team.project_id}/members",
        headers=team.headers["mia"],
        json={"username": "ghost", "role": "annotator"},
    )

    assert response.status_code == 404
    assert "User 'ghost' not found" in response.json()["error"]["message"]


def test_member_role_validated(client: TestClient, team: Team) -> None:
    response = client.put(
        f"/api/projects/{team.project_id}/members",
        headers=team.headers["mia"],
        json={"username": "bob", "role": "owner"},
    )

    assert response.status_code == 422


def test_admin_sees_every_project(
    client: TestClient, admin: dict[str, str], team: Team, feed: FeedSetup
) -> None:
    second_admin = create_user(client, admin, "root2", is_admin=True)
    headers = login(client, second_admin["username"], USER_PASSWORD)

    project = client.get(f"/api/projects/{team.project_id}", headers=headers)
    feeds = client.get(f"/api/projects/{team.project_id}/feeds", headers=headers)
    add_member(client, headers, team.project_id, "outsider", "annotator")

    assert project.json()["role"] == "manager"
    assert [f["id"] for f in feeds.json()] == [feed.feed_id]


def test_project_fields(client: TestClient, team: Team) -> None:
    body = client.get(
        f"/api/projects/{team.project_id}", headers=team.headers["bob"]
    ).json()

    assert set(body) == {
        "id",
        "name",
        "cluster_id",
        "cluster_url",
        "role",
        "created_at",
    }
    assert body["role"] == "annotator"
    assert body["cluster_id"] == team.cluster.id
