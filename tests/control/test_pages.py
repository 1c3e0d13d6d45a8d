from __future__ import annotations

import re
from html.parser import HTMLParser

import jwt
import pytest
from fastapi.testclient import TestClient

from concord.control.pages import safe_next

from .support import USER_PASSWORD, FeedSetup, Team, answer_event, send


class FormParser(HTMLParser):
    """Collects inputs and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.urls: list[str] = []
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "input" and "name" in values:
            self.inputs[values["name"]] = values.get("value", "")
        if tag == "form":
            self.forms.append(values)
        for name in ("href", "src", "action"):
            if name in values:
                self.urls.append(values[name])


def parse(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


def browser_login(
    client: TestClient,
    username: str,
    password: str = USER_PASSWORD,
    next_path: str = "/",
) -> TestClient:
    form = parse(client.get("/login").text)
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": form.inputs["csrf_token"],
            "next": next_path,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def test_login_form_has_csrf_token(client: TestClient) -> None:
    response = client.get("/login")

    form = parse(response.text)
    assert response.status_code == 200
    assert len(form.inputs["csrf_token"]) >= 32
    assert "concord_control_csrf" in response.cookies
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_login_without_csrf_fails(client: TestClient, team: Team) -> None:
    client.get("/login")

    response = client.post(
        "/login",
        data={"username": "alice", "password": USER_PASSWORD},
        follow_redirects=False,
    )

    assert response.status_code == 403
    assert "concord_control" not in client.cookies


def test_login_with_csrf_sets_session(client: TestClient, team: Team) -> None:
    form = parse(client.get("/login").text)

    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": USER_PASSWORD,
            "csrf_token": form.inputs["csrf_token"],
            "next": "/feeds/x/open",
        },
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/feeds/x/open"
    cookie = response.headers["set-cookie"]
    assert "concord_control=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "samesite=lax" in cookie.lower()


@pytest.mark.parametrize("username", ["alice", "nobody"])
def test_login_failure_generic(client: TestClient, team: Team, username: str) -> None:
    form = parse(client.get("/login").text)

    response = client.post(
        "/login",
        data={
            "username": username,
            "password": "wrong-password",
            "csrf_token": form.inputs["csrf_token"],
        },
    )

    assert response.status_code == 401
    assert "Invalid username or password" in response.text
    assert "wrong-password" not in response.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/feeds/abc/open", "/feeds/abc/open"),
        ("/?a=b", "/?a=b"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/\nSet-Cookie: x", "/"),
        ("", "/"),
    ],
)
def test_safe_next(value: str, expected: str) -> None:
    assert safe_next(value) == expected


def test_login_ignores_external_next(client: TestClient, team: Team) -> None:
    form = parse(client.get("/login?next=https://evil.example/").text)

    response = client.post(
        "/login",
        data={
            "username": "alice",
            "password": USER_PASSWORD,
            "csrf_token": form.inputs["csrf_token"],
            "next": "https://evil.example/",
        },
        follow_redirects=False,
    )

    assert form.inputs["next"] == "/"
    assert response.headers["location"] == "/"


def test_home_lists_projects_and_progress(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    send(
        client,
        team.cluster,
        answer_event(team, feed.feed_id, "alice", 1),
        answer_event(team, feed.feed_id, "bob", 1),
    )
    browser_login(client, "alice")

    page = client.get("/")

    assert page.status_code == 200
    assert "news" in page.text
    assert "entities" in page.text
    assert re.search(r"1\s*/\s*10", page.text)
    assert f"/feeds/{feed.feed_id}/open" in parse(page.text).urls


def test_home_needs_login(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"


def test_feed_open_redirects_to_login(client: TestClient, feed: FeedSetup) -> None:
    response = client.get(f"/feeds/{feed.feed_id}/open", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/feeds/{feed.feed_id}/open"


def test_feed_open_posts_token_to_cluster(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    browser_login(client, "bob")

    response = client.get(f"/feeds/{feed.feed_id}/open")

    assert response.status_code == 200
    page = parse(response.text)
    assert page.forms[-1]["action"] == "http://127.0.0.1:8081/auth/enter"
    assert page.forms[-1]["method"] == "post"
    assert page.inputs["next"] == f"/annotate/{feed.feed_id}"
    token = page.inputs["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == team.users["bob"]["id"]
    assert claims["aud"] == team.cluster.id
    assert all(token not in url for url in page.urls)
    assert token not in str(response.url)
    assert all(token not in str(step.url) for step in response.history)
    assert all(token not in value for value in response.headers.values())
    assert "'nonce-" in response.headers["content-security-policy"]
    assert "http://127.0.0.1:8081" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"
    assert "<script nonce=" in response.text


def test_feed_open_checks_membership(
    client: TestClient, team: Team, feed: FeedSetup
) -> None:
    browser_login(client, "outsider")

    unknown = client.get("/feeds/no-such-feed/open")
    foreign = client.get(f"/feeds/{feed.feed_id}/open")

    assert unknown.status_code == 404
    assert foreign.status_code == 404
    assert "token" not in parse(foreign.text).inputs


def test_logout_needs_csrf(client: TestClient, team: Team) -> None:
    browser_login(client, "alice")
    csrf = parse(client.get("/").text).inputs["csrf_token"]

    refused = client.post("/logout", data={}, follow_redirects=False)
    still_in = client.get("/", follow_redirects=False)
    done = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    after = client.get("/", follow_redirects=False)

    assert refused.status_code == 403
    assert still_in.status_code == 200
    assert done.status_code == 303
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


def test_logged_out_cookie_is_dead(client: TestClient, team: Team) -> None:
    browser_login(client, "alice")
    cookie = client.cookies["concord_control"]
    csrf = parse(client.get("/").text).inputs["csrf_token"]
    client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)

    client.cookies.set("concord_control", cookie)
    response = client.get("/", follow_redirects=False)

    assert response.status_code == 303


def test_session_cookie_not_accepted_by_api(client: TestClient, team: Team) -> None:
    browser_login(client, "alice")

    response = client.get("/api/me")

    assert response.status_code == 401


def test_csrf_header_accepted(client: TestClient, team: Team) -> None:
    browser_login(client, "alice")
    csrf = parse(client.get("/").text).inputs["csrf_token"]

    wrong = client.post(
        "/logout", headers={"X-CSRF-Token": "not-the-token"}, follow_redirects=False
    )
    right = client.post(
        "/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False
    )

    assert wrong.status_code == 403
    assert right.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303
