from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.control.models import ApiToken

from .support import Team, bearer


def test_create_list_revoke(client: TestClient, team: Team) -> None:
    alice = team.headers["alice"]

    created = client.post("/api/me/tokens", headers=alice, json={"name": "laptop"})
    token = created.json()["token"]
    listed = client.get("/api/me/tokens", headers=alice).json()
    works = client.get("/api/me", headers=bearer(token))
    revoked = client.delete(f"/api/me/tokens/{created.json()['id']}", headers=alice)
    after = client.get("/api/me", headers=bearer(token))

    assert created.status_code == 201
    assert token.startswith("cct_")
    assert [(t["name"], t["current"]) for t in listed] == [
        ("login", True),
        ("laptop", False),
    ]
    assert all("token" not in t for t in listed)
    assert works.json()["username"] == "alice"
    assert revoked.status_code == 204
    assert after.status_code == 401
    assert [t["name"] for t in client.get("/api/me/tokens", headers=alice).json()] == [
        "login"
    ]


def test_other_users_token_is_404(client: TestClient, team: Team) -> None:
    created = client.post(
        "/api/me/tokens", headers=team.headers["alice"], json={"name": "cli"}
    ).json()

    response = client.delete(
        f"/api/me/tokens/{created['id']}", headers=team.headers["bob"]
    )

    assert response.status_code == 404
    assert client.get("/api/me", headers=bearer(created["token"])).status_code == 200


def test_token_stored_hashed(client: TestClient, team: Team) -> None:
    created = client.post(
        "/api/me/tokens", headers=team.headers["alice"], json={"name": "cli"}
    ).json()

    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        stored = session.scalars(
            select(ApiToken.token_hash).where(ApiToken.id == created["id"])
        ).one()

    assert stored != created["token"]
    assert len(stored) == 64


def test_token_name_validated(client: TestClient, team: Team) -> None:
    response = client.post(
        "/api/me/tokens", headers=team.headers["alice"], json={"name": "has space"}
    )

    assert response.status_code == 422
