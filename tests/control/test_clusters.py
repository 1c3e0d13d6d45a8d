from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import update

from concord.control.app import create_app
from concord.control.models import JoinToken, utcnow
from concord.control.settings import ControlSettings

from .support import (
    ADMIN_PASSWORD,
    BOOTSTRAP_JOIN_TOKEN,
    CLUSTER_URL,
    USER_PASSWORD,
    JoinedCluster,
    create_user,
    join,
    login,
)


def _join_response(
    client: TestClient, token: str, name: str = "main", url: str = CLUSTER_URL
) -> httpx.Response:
    return client.post(
        "/api/clusters/join", json={"join_token": token, "name": name, "url": url}
    )


def test_join_with_bootstrap_token(client: TestClient) -> None:
    response = _join_response(client, BOOTSTRAP_JOIN_TOKEN)

    assert response.status_code == 200
    body = response.json()
    assert len(body["cluster_id"]) == 32
    assert body["cluster_secret"].startswith("ccs_")
    assert body["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    assert body["issuer"] == "concord-control"


def test_join_token_works_once(client: TestClient, cluster: JoinedCluster) -> None:
    response = _join_response(client, BOOTSTRAP_JOIN_TOKEN, name="second")

    assert response.status_code == 401
    assert "already used" in response.json()["error"]["message"]


def test_bootstrap_token_stays_used_after_restart(
    settings: ControlSettings,
) -> None:
    with TestClient(create_app(settings)) as client:
        join(client, BOOTSTRAP_JOIN_TOKEN)

    with TestClient(create_app(settings)) as client:
        response = _join_response(client, BOOTSTRAP_JOIN_TOKEN, name="second")

    assert response.status_code == 401
    assert "already used" in response.json()["error"]["message"]


def test_unknown_join_token_rejected(client: TestClient) -> None:
    response = _join_response(client, "cjt_made-up")

    assert response.status_code == 401
    assert "Invalid join token" in response.json()["error"]["message"]


def test_admin_join_tokens(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/api/clusters/join-tokens", headers=admin)
    assert response.status_code == 200
    token = response.json()["join_token"]

    joined = join(client, token, name="second", url="http://127.0.0.1:9000/")
    listed = client.get("/api/clusters", headers=admin).json()

    assert token.startswith("cjt_")
    assert [(c["id"], c["url"]) for c in listed] == [
        (joined.id, "http://127.0.0.1:9000")
    ]
    assert _join_response(client, token, name="third").status_code == 401


def test_join_tokens_admin_only(client: TestClient, admin: dict[str, str]) -> None:
    create_user(client, admin, "carol")
    carol = login(client, "carol", USER_PASSWORD)

    assert client.post("/api/clusters/join-tokens", headers=carol).status_code == 403
    assert client.post("/api/clusters/join-tokens").status_code == 401


def test_expired_join_token_rejected(client: TestClient, admin: dict[str, str]) -> None:
    token = client.post("/api/clusters/join-tokens", headers=admin).json()["join_token"]
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        session.execute(
            update(JoinToken)
            .where(JoinToken.expires_at.is_not(None))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()

    response = _join_response(client, token)

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_rejoin_same_name_and_url_replaces_secret(
    client: TestClient, admin: dict[str, str], cluster: JoinedCluster
) -> None:
    token = client.post("/api/clusters/join-tokens", headers=admin).json()["join_token"]

    again = join(client, token, name="main")
    old = client.post("/api/events", headers=cluster.headers, json={"events": []})
    new = client.post("/api/events", headers=again.headers, json={"events": []})

    assert again.id == cluster.id
    assert again.secret != cluster.secret
    assert old.status_code == 401
    assert new.status_code == 200


def test_rejoin_same_name_other_url_conflicts(
    client: TestClient, admin: dict[str, str], cluster: JoinedCluster
) -> None:
    token = client.post("/api/clusters/join-tokens", headers=admin).json()["join_token"]

    response = _join_response(client, token, name="main", url="http://127.0.0.1:9999")
    retry = _join_response(client, token, name="elsewhere", url="http://127.0.0.1:9999")

    assert response.status_code == 409
    assert (
        "already joined from http://127.0.0.1:8081"
        in response.json()["error"]["message"]
    )
    # A rejected join leaves the token unused.
    assert retry.status_code == 200


def test_join_rejects_bad_url(client: TestClient) -> None:
    response = _join_response(client, BOOTSTRAP_JOIN_TOKEN, url="ftp://example")
    query = _join_response(client, BOOTSTRAP_JOIN_TOKEN, url="http://h:1/?a=b")

    assert response.status_code == 422
    assert "'ftp://example'" in response.json()["error"]["message"]
    assert query.status_code == 422
    assert _join_response(client, BOOTSTRAP_JOIN_TOKEN).status_code == 200


def test_join_without_bootstrap_token(tmp_path: Path) -> None:
    settings = ControlSettings(
        data_dir=tmp_path,
        admin_password=SecretStr(ADMIN_PASSWORD),
        password_hash_fast=True,
    )

    with TestClient(create_app(settings)) as client:
        response = _join_response(client, "")

    assert response.status_code == 401
