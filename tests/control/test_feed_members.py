from __future__ import annotations

from typing import Any

import jwt
from fastapi.testclient import TestClient

from .support import (
    USER_PASSWORD,
    FeedSetup,
    Team,
    add_member,
    feed_events,
    send,
)


def _claims(client: TestClient, team: Team, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post(
        f"/api/projects/{team.project_id}/cluster-token", headers=headers
    )
    assert response.status_code == 200, response.text
    return jwt.decode(response.json()["token"], options={"verify_signature": False})


def _second_feed(client: TestClient, team: Team) -> str:
    setup, events = feed_events(team, ["SPORTS"], interface="binary")
    send(client, team.cluster, *events)
    return setup.feed_id


def test_annotator_sees_member_feeds(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    hidden = _second_feed(client, team)
    alice = team.headers["alice"]

    listed = client.get(f"/api/projects/{team.project_id}/feeds", headers=alice)
    manager = client.get(
        f"/api/projects/{team.project_id}/feeds", headers=team.headers["mia"]
    )

    assert [f["id"] for f in listed.json()] == [feed.feed_id]
    assert {f["id"] for f in manager.json()} == {feed.feed_id, hidden}
    assert client.get(f"/api/feeds/{hidden}", headers=alice).status_code == 404
    assert client.get(f"/api/feeds/{hidden}/progress", headers=alice).status_code == 404


def test_reviewer_sees_every_feed(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    hidden = _second_feed(client, team)
    add_member(client, team.headers["mia"], team.project_id, "bob", "reviewer")

    response = client.get(f"/api/feeds/{hidden}", headers=team.headers["bob"])

    assert response.status_code == 200


def test_put_and_delete_members(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    url = f"/api/feeds/{feed.feed_id}/members"
    mia = team.headers["mia"]

    removed = client.request("DELETE", url, headers=mia, json={"usernames": ["bob"]})
    after = client.get(f"/api/feeds/{feed.feed_id}", headers=team.headers["bob"])
    added = client.put(url, headers=mia, json={"usernames": ["bob", "bob"]})

    assert removed.json() == {"feed_id": feed.feed_id, "usernames": ["alice"]}
    assert after.status_code == 404
    assert added.json()["usernames"] == ["alice", "bob"]


def test_members_must_be_in_project(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    url = f"/api/feeds/{feed.feed_id}/members"

    outsider = client.put(
        url, headers=team.headers["mia"], json={"usernames": ["bob", "outsider"]}
    )
    ghost = client.put(url, headers=team.headers["mia"], json={"usernames": ["ghost"]})

    assert outsider.status_code == 422
    assert "'outsider' is not a member of project 'news'" in outsider.text
    assert ghost.status_code == 404
    listed = client.get(url, headers=team.headers["mia"]).json()
    assert listed["usernames"] == ["alice", "bob"]


def test_annotator_cannot_change_members(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    response = client.put(
        f"/api/feeds/{feed.feed_id}/members",
        headers=team.headers["alice"],
        json={"usernames": ["alice"]},
    )

    assert response.status_code == 403


def test_feeds_claim(
    client: TestClient, admin: dict[str, str], team: Team, feed: FeedSetup
) -> None:
    _second_feed(client, team)

    alice = _claims(client, team, team.headers["alice"])
    manager = _claims(client, team, team.headers["mia"])
    admin_feeds = _claims(client, team, admin)

    assert alice["feeds"] == [feed.feed_id]
    assert alice["role"] == "annotator"
    assert manager["feeds"] == ["*"]
    assert admin_feeds["feeds"] == ["*"]
    assert {"iss", "aud", "sub", "name", "project", "role", "iat", "exp", "jti"} <= set(
        alice
    )


def test_home_lists_member_feeds(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    hidden = _second_feed(client, team)
    client.get("/login")
    client.post(
        "/login",
        data={
            "username": "alice",
            "password": USER_PASSWORD,
            "csrf_token": client.cookies["concord_control_csrf"],
        },
    )

    page = client.get("/")

    assert f"/feeds/{feed.feed_id}/open" in page.text
    assert f"/feeds/{hidden}/open" not in page.text
    assert client.get(f"/feeds/{hidden}/open").status_code == 404
