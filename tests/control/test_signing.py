from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient

from concord.control.app import create_app
from concord.control.settings import ControlSettings

from .support import USER_PASSWORD, Team, login


def _verify(token: str, public_key_pem: str, audience: str) -> dict[str, Any]:
    key = load_pem_public_key(public_key_pem.encode())
    assert isinstance(key, Ed25519PublicKey)
    return jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer="concord-control",
        options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]},
    )


def _cluster_token(
    client: TestClient, team: Team, headers: dict[str, str]
) -> dict[str, Any]:
    response = client.post(
        f"/api/projects/{team.project_id}/cluster-token", headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("username", ["alice", "mia"])
def test_cluster_token_claims(
    client: TestClient, team: Team, settings: ControlSettings, username: str
) -> None:
    body = _cluster_token(client, team, team.headers[username])

    claims = _verify(body["token"], team.cluster.public_key, team.cluster.id)

    role = "annotator" if username == "alice" else "manager"
    assert body["role"] == role
    assert body["cluster_id"] == team.cluster.id
    assert body["cluster_url"] == "http://127.0.0.1:8081"
    assert claims["sub"] == team.users[username]["id"]
    assert claims["name"] == username
    assert claims["project"] == team.project_id
    assert claims["role"] == role
    assert claims["exp"] - claims["iat"] == settings.access_token_seconds
    expires = datetime.fromisoformat(body["expires_at"])
    assert expires == datetime.fromtimestamp(claims["exp"], UTC)


def test_admin_non_member_gets_manager(
    client: TestClient, admin: dict[str, str], team: Team
) -> None:
    body = _cluster_token(client, team, admin)

    claims = _verify(body["token"], team.cluster.public_key, team.cluster.id)

    assert claims["role"] == "manager"
    assert claims["name"] == "admin"


def test_token_ids_unique(client: TestClient, team: Team) -> None:
    first = _cluster_token(client, team, team.headers["bob"])
    second = _cluster_token(client, team, team.headers["bob"])

    claims = [
        _verify(body["token"], team.cluster.public_key, team.cluster.id)
        for body in (first, second)
    ]

    assert claims[0]["jti"] != claims[1]["jti"]


def test_token_fails_for_other_audience(client: TestClient, team: Team) -> None:
    body = _cluster_token(client, team, team.headers["bob"])

    with pytest.raises(jwt.InvalidAudienceError):
        _verify(body["token"], team.cluster.public_key, "another-cluster")


def test_signing_key_survives_restart(
    settings: ControlSettings, team: Team, client: TestClient
) -> None:
    with TestClient(create_app(settings)) as restarted:
        headers = login(restarted, "bob", USER_PASSWORD)
        body = _cluster_token(restarted, team, headers)

    claims = _verify(body["token"], team.cluster.public_key, team.cluster.id)
    assert claims["sub"] == team.users["bob"]["id"]
