"""Every control plane route, called by every kind of caller.

The routes come from the app's own route table and the expected status from
the permission table, so a new route fails here until it has a rule and a
request recipe below. Path parameters name real objects of a world built
for each route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from concord.common.permissions import Level, MissingPermission, required_level
from concord.control.app import create_app
from concord.control.authorization import check_routes, is_page, route_entries
from concord.control.settings import ControlSettings

from .provider import Provider, running_provider
from .support import (
    ADMIN_PASSWORD,
    BOOTSTRAP_JOIN_TOKEN,
    USER_PASSWORD,
    Team,
    add_feed_members,
    add_member,
    bearer,
    create_project,
    create_user,
    event,
    feed_events,
    join,
    login,
    send,
)

CALLERS = (
    "anonymous",
    "cluster",
    "joiner",
    "outsider",
    "annotator",
    "bystander",
    "reviewer",
    "manager",
    "admin",
)
USERS = ("outsider", "annotator", "bystander", "reviewer", "manager", "admin")
SUCCESS = {200, 201, 204, 302, 303}


@dataclass
class Browser:
    cookie: str
    csrf: str


@dataclass
class World:
    """A project with a feed and one user per role, and their credentials."""

    client: TestClient
    project_id: str
    feed_id: str
    dataset_id: str
    cluster_secret: str
    invitation_id: str
    invitation_token: str
    target_id: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    browsers: dict[str, Browser] = field(default_factory=dict)
    token_ids: dict[str, str] = field(default_factory=dict)

    def password_of(self, caller: str) -> str:
        return ADMIN_PASSWORD if caller == "admin" else USER_PASSWORD

    def new_join_token(self) -> str:
        response = self.client.post(
            "/api/clusters/join-tokens", headers=self.headers["admin"]
        )
        return str(response.json()["join_token"])

    def new_invitation_token(self) -> str:
        response = self.client.post(
            f"/api/projects/{self.project_id}/invitations",
            headers=self.headers["admin"],
            json={"role": "annotator"},
        )
        return str(response.json()["url"]).rsplit("/", 1)[1]


@dataclass
class Call:
    """One request of a recipe; ``success`` replaces the usual 2xx/3xx set."""

    path: str
    json: Any = None
    data: dict[str, str] | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    success: set[int] | None = None


Recipe = Callable[[World, str], Call]


def _form(world: World, caller: str, fields: dict[str, str]) -> dict[str, str]:
    browser = world.browsers.get(caller)
    return {**fields, "csrf_token": browser.csrf if browser else ""}


def _double_submit(fields: dict[str, str]) -> Call:
    return Call("", data={**fields, "csrf_token": "form-token"})


def _login_form(world: World, caller: str) -> Call:
    call = _double_submit({"username": "reviewer", "password": USER_PASSWORD})
    call.path = "/login"
    call.cookies = {"concord_control_csrf": "form-token"}
    return call


def _invite_form(world: World, caller: str) -> Call:
    fields = {
        "username": f"invited-{caller}",
        "password": USER_PASSWORD,
        "password_again": USER_PASSWORD,
    }
    call = _double_submit(fields)
    call.path = f"/invite/{world.new_invitation_token()}"
    call.cookies = {"concord_control_csrf": "form-token"}
    return call


def _own_token(world: World, caller: str) -> Call:
    token_id = world.token_ids.get(caller, world.token_ids["admin"])
    return Call(f"/api/me/tokens/{token_id}")


def _join(world: World, caller: str) -> Call:
    token = world.new_join_token() if caller == "joiner" else "cjt_not-a-token"
    body = {"join_token": token, "name": f"c-{caller}", "url": "http://127.0.0.1:9100"}
    return Call("/api/clusters/join", json=body)


RECIPES: dict[tuple[str, str], Recipe] = {
    ("GET", "/api/health"): lambda w, c: Call("/api/health"),
    ("GET", "/docs"): lambda w, c: Call("/docs"),
    ("GET", "/openapi.json"): lambda w, c: Call("/openapi.json"),
    ("GET", "/static"): lambda w, c: Call("/static/control.css"),
    ("GET", "/static-docs"): lambda w, c: Call("/static-docs/swagger-ui.css"),
    ("POST", "/api/auth/login"): lambda w, c: Call(
        "/api/auth/login", json={"username": "reviewer", "password": USER_PASSWORD}
    ),
    ("POST", "/api/auth/logout"): lambda w, c: Call("/api/auth/logout"),
    ("GET", "/api/me"): lambda w, c: Call("/api/me"),
    ("PUT", "/api/me/password"): lambda w, c: Call(
        "/api/me/password",
        json={"current_password": w.password_of(c), "new_password": "n" * 12},
    ),
    ("GET", "/api/me/tokens"): lambda w, c: Call("/api/me/tokens"),
    ("POST", "/api/me/tokens"): lambda w, c: Call(
        "/api/me/tokens", json={"name": "cli"}
    ),
    ("DELETE", "/api/me/tokens/{token_id}"): _own_token,
    ("POST", "/api/users"): lambda w, c: Call(
        "/api/users", json={"username": f"new-{c}", "password": USER_PASSWORD}
    ),
    ("GET", "/api/users"): lambda w, c: Call("/api/users"),
    ("POST", "/api/users/{user_id}/deactivate"): lambda w, c: Call(
        f"/api/users/{w.target_id}/deactivate"
    ),
    ("POST", "/api/users/{user_id}/reactivate"): lambda w, c: Call(
        f"/api/users/{w.target_id}/reactivate"
    ),
    ("POST", "/api/projects"): lambda w, c: Call(
        "/api/projects", json={"name": f"project-{c}"}
    ),
    ("GET", "/api/projects"): lambda w, c: Call("/api/projects"),
    ("GET", "/api/projects/{project_id}"): lambda w, c: Call(
        f"/api/projects/{w.project_id}"
    ),
    ("PUT", "/api/projects/{project_id}/members"): lambda w, c: Call(
        f"/api/projects/{w.project_id}/members",
        json={"username": "target", "role": "reviewer"},
    ),
    ("GET", "/api/projects/{project_id}/members"): lambda w, c: Call(
        f"/api/projects/{w.project_id}/members"
    ),
    ("POST", "/api/projects/{project_id}/invitations"): lambda w, c: Call(
        f"/api/projects/{w.project_id}/invitations", json={"role": "reviewer"}
    ),
    ("GET", "/api/projects/{project_id}/invitations"): lambda w, c: Call(
        f"/api/projects/{w.project_id}/invitations"
    ),
    ("DELETE", "/api/projects/{project_id}/invitations/{invitation_id}"): (
        lambda w, c: Call(
            f"/api/projects/{w.project_id}/invitations/{w.invitation_id}"
        )
    ),
    ("POST", "/api/projects/{project_id}/cluster-token"): lambda w, c: Call(
        f"/api/projects/{w.project_id}/cluster-token"
    ),
    ("GET", "/api/projects/{project_id}/datasets"): lambda w, c: Call(
        f"/api/projects/{w.project_id}/datasets"
    ),
    ("GET", "/api/projects/{project_id}/feeds"): lambda w, c: Call(
        f"/api/projects/{w.project_id}/feeds"
    ),
    ("GET", "/api/feeds/{feed_id}"): lambda w, c: Call(f"/api/feeds/{w.feed_id}"),
    ("GET", "/api/feeds/{feed_id}/progress"): lambda w, c: Call(
        f"/api/feeds/{w.feed_id}/progress"
    ),
    ("GET", "/api/feeds/{feed_id}/members"): lambda w, c: Call(
        f"/api/feeds/{w.feed_id}/members"
    ),
    ("PUT", "/api/feeds/{feed_id}/members"): lambda w, c: Call(
        f"/api/feeds/{w.feed_id}/members", json={"usernames": ["target"]}
    ),
    ("DELETE", "/api/feeds/{feed_id}/members"): lambda w, c: Call(
        f"/api/feeds/{w.feed_id}/members", json={"usernames": ["target"]}
    ),
    ("GET", "/api/agreement/{source_kind}/{source_id}"): lambda w, c: Call(
        f"/api/agreement/feed/{w.feed_id}"
    ),
    ("GET", "/api/gold/{source_kind}/{source_id}"): lambda w, c: Call(
        f"/api/gold/feed/{w.feed_id}"
    ),
    ("GET", "/api/clusters"): lambda w, c: Call("/api/clusters"),
    ("POST", "/api/clusters/join"): _join,
    ("POST", "/api/clusters/join-tokens"): lambda w, c: Call(
        "/api/clusters/join-tokens"
    ),
    ("POST", "/api/events"): lambda w, c: Call(
        "/api/events", json={"events": []}
    ),
    ("GET", "/api/audit"): lambda w, c: Call("/api/audit"),
    ("GET", "/login"): lambda w, c: Call("/login"),
    ("POST", "/login"): _login_form,
    ("GET", "/login/oidc"): lambda w, c: Call("/login/oidc"),
    # Without a pending sign-in the callback refuses everyone alike.
    ("GET", "/login/oidc/callback"): lambda w, c: Call(
        "/login/oidc/callback?state=unknown&code=x", success={400}
    ),
    ("POST", "/logout"): lambda w, c: Call("/logout", data=_form(w, c, {})),
    ("GET", "/invite/{token}"): lambda w, c: Call(f"/invite/{w.invitation_token}"),
    ("POST", "/invite/{token}"): _invite_form,
    ("GET", "/"): lambda w, c: Call("/"),
    ("GET", "/feeds/{feed_id}/open"): lambda w, c: Call(f"/feeds/{w.feed_id}/open"),
    ("GET", "/admin/audit"): lambda w, c: Call("/admin/audit"),
}


def expected_status(level: Level, caller: str, page: bool) -> int | None:
    """Return the status the caller must get, or None for success."""
    if level == "public":
        return None
    if level in ("cluster", "join"):
        holder = "cluster" if level == "cluster" else "joiner"
        return None if caller == holder else 401
    if caller not in USERS:
        return 303 if page else 401
    if level == "user" or caller == "admin":
        return None
    if level == "admin":
        return 403
    if caller == "outsider":
        return 404
    if level == "annotator-of-feed" and caller == "bystander":
        return 404
    allowed = {
        "member": {"annotator", "bystander", "reviewer", "manager"},
        "annotator-of-feed": {"annotator", "reviewer", "manager"},
        "reviewer": {"reviewer", "manager"},
        "manager": {"manager"},
    }[level]
    return None if caller in allowed else 403


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    with running_provider() as running:
        yield running


def _settings(tmp_path: Path, provider: Provider) -> ControlSettings:
    return ControlSettings(
        data_dir=tmp_path / "control-data",
        admin_password=SecretStr(ADMIN_PASSWORD),
        join_token=SecretStr(BOOTSTRAP_JOIN_TOKEN),
        password_hash_fast=True,
        oidc_issuer=provider.issuer,
        oidc_client_id="concord-matrix",
    )


def _browser(client: TestClient, username: str, password: str) -> Browser:
    client.cookies.clear()
    client.get("/login")
    form_token = client.cookies["concord_control_csrf"]
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    cookie = client.cookies["concord_control"]
    page = client.get("/").text
    csrf = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.cookies.clear()
    return Browser(cookie, csrf)


def _build_world(client: TestClient) -> World:
    admin = login(client, "admin", ADMIN_PASSWORD)
    cluster = join(client, BOOTSTRAP_JOIN_TOKEN)
    project = create_project(client, admin, "news")
    other = create_project(client, admin, "other")
    roles = {"annotator": "annotator", "bystander": "annotator"}
    roles |= {"reviewer": "reviewer", "manager": "manager", "target": "annotator"}
    users = {"admin": client.get("/api/me", headers=admin).json()}

    for username in (*roles, "outsider"):
        users[username] = create_user(client, admin, username)
    for username, role in roles.items():
        add_member(client, admin, project["id"], username, role)
    add_member(client, admin, other["id"], "outsider", "annotator")

    team = Team(project["id"], cluster, users, {})
    setup, events = feed_events(team, ["PERSON"])
    send(client, cluster, *events, *_result_events(team, setup.feed_id))
    add_feed_members(client, admin, setup.feed_id, ["annotator"])

    invited = client.post(
        f"/api/projects/{project['id']}/invitations",
        headers=admin,
        json={"role": "annotator"},
    ).json()
    world = World(
        client=client,
        project_id=project["id"],
        feed_id=setup.feed_id,
        dataset_id=setup.dataset_id,
        cluster_secret=cluster.secret,
        invitation_id=invited["id"],
        invitation_token=invited["url"].rsplit("/", 1)[1],
        target_id=users["target"]["id"],
    )

    for username in USERS:
        password = ADMIN_PASSWORD if username == "admin" else USER_PASSWORD
        world.headers[username] = login(client, username, password)
        tokens = client.get("/api/me/tokens", headers=world.headers[username]).json()
        world.token_ids[username] = next(t["id"] for t in tokens if t["current"])
        world.browsers[username] = _browser(client, username, password)
    return world


def _result_events(team: Team, feed_id: str) -> list[dict[str, Any]]:
    envelope = (team.cluster.id, team.project_id)
    agreement = event(
        "agreement.computed",
        *envelope,
        source_kind="feed",
        source_id=feed_id,
        items=1,
        items_excluded=0,
        annotators=1,
        ratings=1,
        percent_agreement=1.0,
        krippendorff_alpha=None,
        cohen_kappa=None,
        per_annotator=[],
    )
    gold = event(
        "gold.built",
        *envelope,
        source_kind="feed",
        source_id=feed_id,
        gold_dataset_id="gold-1",
        min_agreement=0.5,
        items=1,
        gold_items=1,
        conflicts=0,
    )
    return [agreement, gold]


def _send(world: World, method: str, caller: str, call: Call, page: bool) -> Any:
    headers: dict[str, str] = {}
    cookies = dict(call.cookies)
    if caller == "cluster":
        headers = bearer(world.cluster_secret)
    elif caller in USERS and not page:
        headers = world.headers[caller]
    elif caller in USERS:
        cookies["concord_control"] = world.browsers[caller].cookie
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    world.client.cookies.clear()
    return world.client.request(
        method,
        call.path,
        headers=headers,
        json=call.json,
        data=call.data,
        follow_redirects=False,
    )


def _app_entries() -> list[tuple[str, str]]:
    app = create_app(ControlSettings(data_dir=Path("unused")))
    return [(entry.method, entry.path) for entry in route_entries(app)]


ROUTES = _app_entries()


@pytest.mark.parametrize(
    ("method", "path"), ROUTES, ids=[f"{method} {path}" for method, path in ROUTES]
)
def test_route_matrix(
    tmp_path: Path, provider: Provider, method: str, path: str
) -> None:
    level = required_level("control", method, path)
    recipe = RECIPES.get((method, path))
    assert recipe is not None, f"add a request recipe for {method} {path} above"
    page = is_page(path)

    outcomes = {}
    with TestClient(create_app(_settings(tmp_path, provider))) as client:
        world = _build_world(client)
        for caller in CALLERS:
            call = recipe(world, caller)
            response = _send(world, method, caller, call, page)
            location = response.headers.get("location")
            outcomes[caller] = (response.status_code, location, call.success)

    for caller, (status, location, success) in outcomes.items():
        wanted = expected_status(level, caller, page)
        if wanted is None:
            assert status in (success or SUCCESS), f"{caller} got {status}"
        else:
            assert status == wanted, f"{caller} got {status}, expected {wanted}"
        if wanted == 303:
            assert location is not None and location.startswith("/login?next=")


def test_every_recipe_has_route() -> None:
    assert set(RECIPES) == set(ROUTES)


def test_unlisted_route_rejected(tmp_path: Path) -> None:
    app: FastAPI = create_app(ControlSettings(data_dir=tmp_path))

    @app.get("/api/unlisted")
    def unlisted() -> dict[str, str]:
        return {}

    with pytest.raises(MissingPermission, match="GET /api/unlisted"):
        check_routes(app)


def test_create_app_checks_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    from concord.common import permissions

    monkeypatch.setattr(
        permissions,
        "_BY_KEY",
        {
            key: rule
            for key, rule in permissions._BY_KEY.items()
            if key != ("control", "GET", "/api/audit")
        },
    )

    with pytest.raises(MissingPermission, match="GET /api/audit"):
        create_app(ControlSettings(data_dir=Path("unused")))
