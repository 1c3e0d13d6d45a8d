"""The HTTP clients: the shared error shape, connection errors and token renewal."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from concord.cli.client import (
    AccessToken,
    ApiError,
    ClusterClient,
    ClusterToken,
    ConnectionFailed,
    ControlClient,
    error_from_response,
)
from concord.cli.supervisor import RunningPlanes, free_port


def response(status: int, **kwargs: object) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1:1/api/datasets/d1/import")
    return httpx.Response(status, request=request, **kwargs)  # type: ignore[arg-type]


def test_error_shape_is_parsed() -> None:
    body = {
        "error": {
            "code": "invalid_input",
            "message": "Line 3: bad",
            "details": {"line": 3},
        }
    }

    error = error_from_response(response(422, json=body))

    assert (error.status, error.code, str(error)) == (
        422,
        "invalid_input",
        "Line 3: bad",
    )
    assert error.details == {"line": 3}


def test_non_json_error_names_the_request() -> None:
    error = error_from_response(response(502, text="Bad gateway"))

    assert error.code == "http_error"
    assert "POST /api/datasets/d1/import failed with HTTP 502" in str(error)
    assert "Bad gateway" in str(error)


def test_closed_port_raises_connection_failed() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    with ControlClient(url) as client, pytest.raises(ConnectionFailed) as caught:
        client.health()

    assert url in str(caught.value)
    assert "concord up" in str(caught.value)


def test_missing_token_is_401(planes: RunningPlanes) -> None:
    with ControlClient(planes.control_url) as client, pytest.raises(ApiError) as caught:
        client.me()

    assert caught.value.status == 401
    assert caught.value.code == "unauthorized"


def fake_token(token: str, expires_in: timedelta) -> ClusterToken:
    expires = datetime.now(timezone.utc) + expires_in
    return ClusterToken(
        token, "http://127.0.0.1:1", "c1", "manager", expires.isoformat()
    )


def test_access_token_renews_before_expiry() -> None:
    fetched: list[int] = []

    def fetch() -> ClusterToken:
        fetched.append(1)
        return fake_token(f"t{len(fetched)}", timedelta(seconds=30))

    token = AccessToken(fetch)

    assert token.value() == "t1"
    assert token.value() == "t2"
    assert len(fetched) == 2


def test_access_token_is_cached_while_fresh() -> None:
    fetched: list[int] = []

    def fetch() -> ClusterToken:
        fetched.append(1)
        return fake_token("long", timedelta(minutes=10))

    token = AccessToken(fetch)
    token.value()
    token.value()

    assert len(fetched) == 1


def test_cluster_client_renews_rejected_token(planes: RunningPlanes) -> None:
    assert planes.credentials is not None
    control = ControlClient(planes.control_url, planes.credentials.token)
    project = control.create_project("client-renewal")
    issued: list[str] = []

    def fetch() -> ClusterToken:
        real = control.cluster_token(project.id)
        # The first token is garbage, as an expired or revoked one would be.
        value = "not-a-jwt" if not issued else real.token
        issued.append(value)
        return ClusterToken(
            value, real.cluster_url, real.cluster_id, real.role, real.expires_at
        )

    with ClusterClient(planes.cluster_url, AccessToken(fetch)) as cluster:
        datasets = cluster.list_datasets()

    assert datasets == []
    assert issued[0] == "not-a-jwt"
    assert len(issued) == 2


def test_cluster_token_repr_hides_token() -> None:
    token = fake_token("secret-value", timedelta(minutes=1))

    assert "secret-value" not in repr(token)
