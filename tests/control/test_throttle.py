from __future__ import annotations

from datetime import timedelta

import httpx

from fastapi.testclient import TestClient
from sqlalchemy import select

from concord.control.app import create_app
from concord.control.models import LoginFailure
from concord.control.settings import ControlSettings

from .support import ADMIN_PASSWORD, USER_PASSWORD, create_user


def _try(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post(
        "/api/auth/login", json={"username": username, "password": password}
    )


def test_account_locked_after_five(client: TestClient, admin: dict[str, str]) -> None:
    create_user(client, admin, "carol")

    failures = [_try(client, "carol", f"wrong-{n}") for n in range(5)]
    locked = _try(client, "carol", USER_PASSWORD)

    assert [r.status_code for r in failures] == [401] * 5
    assert locked.status_code == 429
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= 15 * 60
    body = locked.json()
    assert body["error"]["code"] == "too_many_requests"
    assert body["error"]["details"]["retry_after"] == retry_after
    assert _try(client, "admin", ADMIN_PASSWORD).status_code == 200


def test_unknown_account_locked_alike(client: TestClient) -> None:
    for number in range(5):
        _try(client, "ghost", f"wrong-{number}")

    assert _try(client, "ghost", "x").status_code == 429


def test_address_limit(client: TestClient) -> None:
    statuses = [
        _try(client, f"user-{number}", "wrong").status_code
        for number in range(21)
    ]

    assert statuses[:20] == [401] * 20
    assert statuses[20] == 429


def test_success_resets_account(client: TestClient, admin: dict[str, str]) -> None:
    create_user(client, admin, "carol")
    for number in range(4):
        _try(client, "carol", f"wrong-{number}")
    assert _try(client, "carol", USER_PASSWORD).status_code == 200

    again = [_try(client, "carol", f"wrong-{n}").status_code for n in range(4)]


    assert again == [401] * 4


def test_window_slides(client: TestClient, admin: dict[str, str]) -> None:
    create_user(client, admin, "carol")
    for number in range(5):
        _try(client, "carol", f"wrong-{number}")
    database = client.app.state.database  # type: ignore[attr-defined]
    with database.sessions() as session:
        for row in session.scalars(select(LoginFailure)):
            row.failed_at = row.failed_at - timedelta(minutes=16)
        session.commit()

    assert _try(client, "carol", USER_PASSWORD).status_code == 200


def test_replicas_share_failures(
    client: TestClient, settings: ControlSettings, admin: dict[str, str]
) -> None:
    create_user(client, admin, "carol")
    for number in range(5):
        _try(client, "carol", f"wrong-{number}")

    with TestClient(create_app(settings)) as replica:
        locked = _try(replica, "carol", USER_PASSWORD)

    assert locked.status_code == 429


def test_web_login_limited(client: TestClient, admin: dict[str, str]) -> None:
    create_user(client, admin, "carol")
    client.get("/login")
    form = {"username": "carol", "csrf_token": client.cookies["concord_control_csrf"]}
    for number in range(5):
        client.post("/login", data={**form, "password": f"wrong-{number}"})

    response = client.post("/login", data={**form, "password": USER_PASSWORD})

    assert response.status_code == 429
    assert "Too many failed logins" in response.text
    assert int(response.headers["retry-after"]) > 0
