from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from .support import ADMIN_PASSWORD, USER_PASSWORD, bearer, create_user, login


def test_login_returns_token_and_user(client: TestClient) -> None:
    response = client.post(
        "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token"].startswith("cct_")
    assert body["user"]["username"] == "admin"
    assert body["user"]["is_admin"] is True
    assert body["user"]["active"] is True


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin", "wrong-password"), ("nobody", ADMIN_PASSWORD)],
)
def test_login_failure_is_generic(
    client: TestClient, username: str, password: str
) -> None:
    response = client.post(
        "/api/auth/login", json={"username": username, "password": password}
    )

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert error["message"] == "Invalid username or password."


def test_login_logs_no_password(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    headers = login(client, "admin", ADMIN_PASSWORD)

    assert "admin" in caplog.text
    assert ADMIN_PASSWORD not in caplog.text
    assert headers["Authorization"].removeprefix("Bearer ") not in caplog.text


def test_me_needs_a_valid_token(client: TestClient, admin: dict[str, str]) -> None:
    assert client.get("/api/me", headers=admin).json()["username"] == "admin"

    missing = client.get("/api/me")
    forged = client.get("/api/me", headers=bearer("cct_not-a-real-token"))

    assert missing.status_code == 401
    assert "Missing API token" in missing.json()["error"]["message"]
    assert forged.status_code == 401
    assert "Invalid or revoked" in forged.json()["error"]["message"]


def test_logout_revokes_only_that_token(client: TestClient) -> None:
    first = login(client, "admin", ADMIN_PASSWORD)
    second = login(client, "admin", ADMIN_PASSWORD)

    response = client.post("/api/auth/logout", headers=first)

    assert response.status_code == 204
    assert client.get("/api/me", headers=first).status_code == 401
    assert client.get("/api/me", headers=second).status_code == 200


def test_admin_creates_and_lists_users(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = create_user(client, admin, "carol")

    listed = client.get("/api/users", headers=admin).json()

    assert created["username"] == "carol"
    assert created["is_admin"] is False
    assert [user["username"] for user in listed] == ["admin", "carol"]
    assert login(client, "carol", USER_PASSWORD)


def test_duplicate_username_conflicts(
    client: TestClient, admin: dict[str, str]
) -> None:
    create_user(client, admin, "carol")

    response = client.post(
        "/api/users",
        headers=admin,
        json={"username": "carol", "password": USER_PASSWORD},
    )

    assert response.status_code == 409
    assert "'carol' already exists" in response.json()["error"]["message"]


def test_short_password_rejected(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/users", headers=admin, json={"username": "dave", "password": "short"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "body.password"


def test_user_routes_are_admin_only(client: TestClient, admin: dict[str, str]) -> None:
    create_user(client, admin, "carol")
    carol = login(client, "carol", USER_PASSWORD)

    listing = client.get("/api/users", headers=carol)
    creating = client.post(
        "/api/users", headers=carol, json={"username": "eve", "password": USER_PASSWORD}
    )

    assert listing.status_code == 403
    assert creating.status_code == 403
    assert creating.json()["error"]["code"] == "forbidden"


def _browser_session(client: TestClient, username: str) -> str:
    client.cookies.clear()
    client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": USER_PASSWORD,
            "csrf_token": client.cookies["concord_control_csrf"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = client.cookies["concord_control"]
    client.cookies.clear()
    return cookie


def test_deactivation_ends_everything(
    client: TestClient, admin: dict[str, str]
) -> None:
    carol = create_user(client, admin, "carol")
    token = login(client, "carol", USER_PASSWORD)
    cookie = _browser_session(client, "carol")
    before = client.get("/", headers={"Cookie": f"concord_control={cookie}"})

    response = client.post(f"/api/users/{carol['id']}/deactivate", headers=admin)

    page = client.get(
        "/", headers={"Cookie": f"concord_control={cookie}"}, follow_redirects=False
    )
    relogin = client.post(
        "/api/auth/login", json={"username": "carol", "password": USER_PASSWORD}
    )
    assert before.status_code == 200
    assert response.status_code == 200
    assert response.json()["active"] is False
    assert client.get("/api/me", headers=token).status_code == 401
    assert page.status_code == 303
    assert relogin.status_code == 401
    assert relogin.json()["error"]["message"] == "Invalid username or password."


def test_reactivation_needs_new_login(
    client: TestClient, admin: dict[str, str]
) -> None:
    carol = create_user(client, admin, "carol")
    old = login(client, "carol", USER_PASSWORD)
    client.post(f"/api/users/{carol['id']}/deactivate", headers=admin)

    response = client.post(f"/api/users/{carol['id']}/reactivate", headers=admin)

    assert response.json()["active"] is True
    assert client.get("/api/me", headers=old).status_code == 401
    assert client.get("/api/me", headers=login(client, "carol", USER_PASSWORD))


def test_last_admin_stays_active(client: TestClient, admin: dict[str, str]) -> None:
    me = client.get("/api/me", headers=admin).json()

    response = client.post(f"/api/users/{me['id']}/deactivate", headers=admin)

    assert response.status_code == 409
    assert "last active administrator" in response.json()["error"]["message"]
    assert client.get("/api/me", headers=admin).status_code == 200


def test_unknown_user_is_404(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/api/users/nobody/deactivate", headers=admin)

    assert response.status_code == 404


def test_password_change(client: TestClient, admin: dict[str, str]) -> None:
    create_user(client, admin, "carol")
    current = login(client, "carol", USER_PASSWORD)
    other = login(client, "carol", USER_PASSWORD)
    cookie = _browser_session(client, "carol")
    new_password = "a-brand-new-password"

    wrong = client.put(
        "/api/me/password",
        headers=current,
        json={"current_password": "wrong-password", "new_password": new_password},
    )
    changed = client.put(
        "/api/me/password",
        headers=current,
        json={"current_password": USER_PASSWORD, "new_password": new_password},
    )

    page = client.get(
        "/", headers={"Cookie": f"concord_control={cookie}"}, follow_redirects=False
    )
    assert wrong.status_code == 401
    assert changed.status_code == 204
    assert client.get("/api/me", headers=current).status_code == 200
    assert client.get("/api/me", headers=other).status_code == 401
    assert page.status_code == 303
    assert login(client, "carol", new_password)
    old = client.post(
        "/api/auth/login", json={"username": "carol", "password": USER_PASSWORD}
    )
    assert old.status_code == 401
