from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from concord.control.audit import AuditLogIsAppendOnly
from concord.control.models import AuditEntry
from concord.control.settings import ControlSettings
from tests.postgres import database_bytes

from .support import (
    ADMIN_PASSWORD,
    USER_PASSWORD,
    FeedSetup,
    Team,
    add_feed_members,
    event,
    feed_events,
    login,
    send,
)


def _entries(client: TestClient, admin: dict[str, str], **params: Any) -> list[Any]:
    response = client.get("/api/audit", headers=admin, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["entries"])


def _actions(entries: list[Any]) -> list[str]:
    return [entry["action"] for entry in entries]


def test_team_actions_recorded(
    client: TestClient, admin: dict[str, str], team: Team, feed: FeedSetup
) -> None:
    add_feed_members(client, team.headers["mia"], feed.feed_id, ["alice"])
    client.post(
        f"/api/projects/{team.project_id}/cluster-token", headers=team.headers["bob"]
    )
    client.post("/api/me/tokens", headers=team.headers["bob"], json={"name": "cli"})
    client.post(
        f"/api/projects/{team.project_id}/invitations",
        headers=team.headers["mia"],
        json={"role": "annotator"},
    )

    actions = set(_actions(_entries(client, admin, limit=500)))

    assert {
        "cluster.joined",
        "project.created",
        "user.created",
        "member.added",
        "login",
        "feed_members.added",
        "cluster_token.issued",
        "api_token.created",
        "invitation.created",
    } <= actions


def test_failed_login_recorded(
    client: TestClient, admin: dict[str, str], settings: ControlSettings
) -> None:
    secret = "a-wrong-password-that-must-not-be-stored"
    client.post("/api/auth/login", json={"username": "mallory", "password": secret})

    entries = _entries(client, admin, action="login.failed")

    assert len(entries) == 1
    assert entries[0]["actor_name"] == "mallory"
    assert entries[0]["actor_id"] is None
    assert entries[0]["address"] == "testclient"
    database = database_bytes(settings.resolved_database_url)
    assert secret.encode() not in database


def test_role_change_recorded(
    client: TestClient, admin: dict[str, str], team: Team
) -> None:
    client.put(
        f"/api/projects/{team.project_id}/members",
        headers=team.headers["mia"],
        json={"username": "bob", "role": "reviewer"},
    )

    entry = _entries(client, admin, action="member.role_changed")[0]

    assert entry["actor_name"] == "mia"
    assert entry["object_id"] == team.users["bob"]["id"]
    assert entry["project_id"] == team.project_id
    assert entry["details"] == {"role": "reviewer", "previous_role": "annotator"}


def test_filters_and_pages(
    client: TestClient, admin: dict[str, str], team: Team
) -> None:
    everything = _entries(client, admin, limit=500)
    first = client.get("/api/audit", headers=admin, params={"limit": 2}).json()
    second = client.get(
        "/api/audit",
        headers=admin,
        params={"limit": 2, "before": first["next_before"]},
    ).json()
    by_actor = _entries(client, admin, actor="mia")
    by_object = _entries(client, admin, object=team.users["alice"]["id"])
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    none_yet = _entries(client, admin, since=future)

    seqs = [entry["seq"] for entry in everything]
    assert seqs == sorted(seqs, reverse=True)
    assert [e["seq"] for e in first["entries"] + second["entries"]] == seqs[:4]
    assert by_actor and all(e["actor_name"] == "mia" for e in by_actor)
    assert by_object and all(
        e["object_id"] == team.users["alice"]["id"] for e in by_object
    )
    assert none_yet == []


def test_audit_is_admin_only(client: TestClient, team: Team) -> None:
    assert client.get("/api/audit", headers=team.headers["mia"]).status_code == 403
    assert client.get("/api/audit").status_code == 401


def test_audit_page(client: TestClient, admin: dict[str, str], team: Team) -> None:
    client.get("/login")
    client.post(
        "/login",
        data={
            "username": "admin",
            "password": ADMIN_PASSWORD,
            "csrf_token": client.cookies["concord_control_csrf"],
        },
    )

    page = client.get("/admin/audit?action=member.added")

    assert page.status_code == 200
    assert "member.added" in page.text
    assert "project.created" not in page.text


def test_audit_page_hidden_from_users(client: TestClient, team: Team) -> None:
    client.get("/login")
    client.post(
        "/login",
        data={
            "username": "alice",
            "password": USER_PASSWORD,
            "csrf_token": client.cookies["concord_control_csrf"],
        },
    )

    assert client.get("/admin/audit").status_code == 403


def _first_entry(client: TestClient) -> tuple[Session, AuditEntry]:
    database = client.app.state.database  # type: ignore[attr-defined]
    session = database.sessions()
    return session, session.scalars(select(AuditEntry).limit(1)).one()


def test_orm_refuses_update(client: TestClient, admin: dict[str, str]) -> None:
    session, entry = _first_entry(client)
    entry.action = "rewritten"

    with pytest.raises(AuditLogIsAppendOnly):
        session.commit()
    session.rollback()
    session.close()


def test_orm_refuses_delete(client: TestClient, admin: dict[str, str]) -> None:
    session, entry = _first_entry(client)
    session.delete(entry)

    with pytest.raises(AuditLogIsAppendOnly):
        session.commit()
    session.rollback()
    session.close()


@pytest.mark.parametrize(
    "statement",
    [update(AuditEntry).values(action="x"), delete(AuditEntry)],
    ids=["update", "delete"],
)
def test_bulk_change_refused(
    client: TestClient, admin: dict[str, str], statement: Any
) -> None:
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        with pytest.raises(AuditLogIsAppendOnly):
            session.execute(statement)


@pytest.mark.parametrize(
    "sql", ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"]
)
def test_database_trigger_refuses(
    client: TestClient, admin: dict[str, str], sql: str
) -> None:
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.engine.connect() as connection:
        with pytest.raises(DatabaseError, match="append-only"):
            connection.execute(text(sql))
    with database.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry))


def test_cluster_actions_recorded(
    client: TestClient, admin: dict[str, str], team: Team
) -> None:
    manager = team.users["mia"]
    setup, events = feed_events(team, labels=["ORG"])
    events[1]["actor_id"] = manager["id"]
    export = event(
        "export.started",
        team.cluster.id,
        team.project_id,
        source_kind="feed",
        source_id=setup.feed_id,
        actor_id=manager["id"],
    )
    result = send(client, team.cluster, *events, export)
    assert len(result["accepted"]) == 3
    entries = client.get("/api/audit", headers=admin).json()["entries"]
    by_action = {entry["action"]: entry for entry in entries}
    assert by_action["feed.created"]["object_id"] == setup.feed_id
    assert by_action["feed.created"]["actor_name"] == "mia"
    assert by_action["export.started"]["object_type"] == "feed"
    assert by_action["export.started"]["actor_name"] == "mia"
