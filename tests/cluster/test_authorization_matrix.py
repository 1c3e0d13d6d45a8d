"""Every cluster route, called as every kind of caller, against the permission table.

The routes come from the app's own route table and the expected status from
``concord.common.permissions``, so a new route without a rule or without a
request recipe here fails this test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from concord.common.permissions import required_level
from concord.common.tasks import set_hashes
from tests.cluster.pictures import data_uri, png_bytes

PROJECT = "project-a"
# A task with an image, for the media route; the world's feed serves it last.
IMAGE_TASK = set_hashes({"image": data_uri(png_bytes(4, 3))})
OTHER_PROJECT = "project-b"


@dataclass
class World:
    dataset_id: str
    feed_id: str
    manager_token: str


@dataclass
class Recipe:
    """How to call one route with valid input; ``refers_to_object`` marks project objects."""

    build: Callable[[World], dict[str, Any]]
    refers_to_object: bool = True
    cookie: bool = False


def _name() -> str:
    return "n-" + uuid.uuid4().hex[:12]


RECIPES: dict[tuple[str, str], Recipe] = {
    ("GET", "/api/health"): Recipe(lambda w: {}, refers_to_object=False),
    ("GET", "/docs"): Recipe(lambda w: {}, refers_to_object=False),
    ("GET", "/openapi.json"): Recipe(lambda w: {}, refers_to_object=False),
    ("GET", "/static"): Recipe(
        lambda w: {"path": "/static/app/css/page.css"}, refers_to_object=False
    ),
    ("GET", "/static-docs"): Recipe(
        lambda w: {"path": "/static-docs/swagger-ui.css"}, refers_to_object=False
    ),
    ("POST", "/api/datasets"): Recipe(lambda w: {"json": {"name": _name()}}, refers_to_object=False),
    ("GET", "/api/datasets"): Recipe(lambda w: {}, refers_to_object=False),
    ("GET", "/api/datasets/{dataset_id}"): Recipe(lambda w: {}),
    ("POST", "/api/datasets/{dataset_id}/import"): Recipe(
        lambda w: {"content": orjson.dumps({"text": _name()}) + b"\n"}
    ),
    ("GET", "/api/datasets/{dataset_id}/export"): Recipe(lambda w: {}),
    ("POST", "/api/feeds"): Recipe(
        lambda w: {
            "json": {
                "dataset_id": w.dataset_id,
                "name": _name(),
                "interface": "binary",
                "label": "DOC",
            }
        }
    ),
    ("GET", "/api/feeds"): Recipe(lambda w: {}, refers_to_object=False),
    ("GET", "/api/feeds/{feed_id}"): Recipe(lambda w: {}),
    ("POST", "/api/feeds/{feed_id}/next"): Recipe(lambda w: {"json": {"count": 1}}),
    ("PATCH", "/api/feeds/{feed_id}"): Recipe(lambda w: {"json": {"overlap": 2}}),
    ("POST", "/api/feeds/{feed_id}/skip"): Recipe(
        lambda w: {"json": {"task_hash": w.task_hashes[0]}}  # type: ignore[attr-defined]
    ),
    ("POST", "/api/feeds/{feed_id}/heartbeat"): Recipe(lambda w: {}),
    ("POST", "/api/feeds/{feed_id}/answers"): Recipe(
        lambda w: {
            "json": {
                "answers": [
                    {"answer_id": uuid.uuid4().hex, "task_hash": w.task_hash, "answer": "ignore"}  # type: ignore[attr-defined]
                ]
            }
        }
    ),
    ("POST", "/api/feeds/{feed_id}/undo"): Recipe(lambda w: {}),
    ("GET", "/api/feeds/{feed_id}/progress"): Recipe(lambda w: {}),
    ("GET", "/api/feeds/{feed_id}/media/{task_hash}"): Recipe(
        lambda w: {"path": f"/api/feeds/{w.feed_id}/media/{IMAGE_TASK['_task_hash']}"}
    ),
    ("GET", "/api/feeds/{feed_id}/export"): Recipe(lambda w: {}),
    ("POST", "/api/agreement"): Recipe(lambda w: {"json": {"feed_id": w.feed_id}}),
    ("GET", "/api/conflicts"): Recipe(lambda w: {"params": {"feed_id": w.feed_id}}),
    ("POST", "/api/gold"): Recipe(lambda w: {"json": {"feed_id": w.feed_id, "name": _name()}}),
    ("GET", "/annotate/{feed_id}"): Recipe(lambda w: {}, cookie=True),
    ("POST", "/auth/enter"): Recipe(
        lambda w: {"data": {"token": w.manager_token, "next": "/"}}, refers_to_object=False
    ),
    ("POST", "/auth/logout"): Recipe(lambda w: {}, refers_to_object=False),
}


@dataclass
class Caller:
    name: str
    claims: dict[str, Any] | None  # None: anonymous
    outsider: bool = False
    role: str = ""
    on_feed: bool = field(default=True)


def callers(feed_id: str) -> list[Caller]:
    return [
        Caller("anonymous", None),
        Caller("manager-of-other-project", {"project": OTHER_PROJECT, "role": "manager"}, outsider=True, role="manager"),
        Caller("annotator-not-on-feed", {"role": "annotator", "feeds": []}, role="annotator", on_feed=False),
        Caller("annotator", {"role": "annotator", "feeds": [feed_id]}, role="annotator"),
        Caller("reviewer", {"role": "reviewer"}, role="reviewer"),
        Caller("manager", {"role": "manager"}, role="manager"),
    ]


def route_table(app) -> list[tuple[str, str]]:
    entries = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, Mount):
            entries.append(("GET", route.path))
            continue
        for method in sorted((context.methods or set()) - {"HEAD"}):
            entries.append((method, context.path_format))
    return entries


def expected(level: str, caller: Caller, recipe: Recipe) -> str:
    """'ok', 'login', 401, 403 or 404."""
    if level == "public":
        return "ok"
    if caller.claims is None:
        return "login" if recipe.cookie else "401"
    if caller.outsider and recipe.refers_to_object:
        return "404"
    ranks = {"annotator": 0, "reviewer": 1, "manager": 2}
    if level in ("reviewer", "manager") and ranks[caller.role] < ranks[level]:
        return "403"
    if level == "annotator-of-feed" and caller.role == "annotator" and not caller.on_feed:
        return "404"
    return "ok"


@pytest.fixture
def world(cluster: TestClient, signer) -> World:
    headers = signer.headers(project=PROJECT, role="manager")
    dataset = cluster.post("/api/datasets", json={"name": "matrix"}, headers=headers).json()
    records = [{"text": f"text {i}"} for i in range(50)] + [IMAGE_TASK]
    body = b"".join(orjson.dumps(record) + b"\n" for record in records)
    cluster.post(f"/api/datasets/{dataset['id']}/import", content=body, headers=headers)
    feed = cluster.post(
        "/api/feeds",
        json={"dataset_id": dataset["id"], "name": "matrix-feed", "interface": "binary", "label": "DOC"},
        headers=headers,
    ).json()
    tasks = cluster.post(f"/api/feeds/{feed['id']}/next", json={"count": 50}, headers=headers).json()
    result = World(dataset["id"], feed["id"], signer.token(project=PROJECT, role="manager"))
    result.task_hashes = [task["_task_hash"] for task in tasks["tasks"]]  # type: ignore[attr-defined]
    return result


def call(client: TestClient, signer, world: World, method: str, path: str, caller: Caller):
    recipe = RECIPES[(method, path)]
    request = recipe.build(world)
    url = request.pop("path", None) or path.format(dataset_id=world.dataset_id, feed_id=world.feed_id)
    headers: dict[str, str] = {}
    client.cookies.clear()
    if caller.claims is not None:
        token = signer.token(**{"project": PROJECT, **caller.claims})
        if recipe.cookie:
            client.cookies.set("concord_session", token)
        else:
            headers["Authorization"] = f"Bearer {token}"
    response = client.request(method, url, headers=headers, follow_redirects=False, **request)
    return response


def test_every_route_has_rule_and_recipe(cluster_app) -> None:
    for method, path in route_table(cluster_app):
        required_level("cluster", method, path)
        assert (method, path) in RECIPES, f"add a request recipe for {method} {path}"


def test_authorization_matrix(cluster_app, cluster: TestClient, signer, world: World) -> None:
    failures = []
    for method, path in route_table(cluster_app):
        level = required_level("cluster", method, path)
        recipe = RECIPES[(method, path)]
        for caller in callers(world.feed_id):
            if path.endswith("/answers"):
                world.task_hash = world.task_hashes.pop()  # type: ignore[attr-defined]
            response = call(cluster, signer, world, method, path, caller)
            want = expected(level, caller, recipe)
            status = response.status_code
            if want == "ok":
                good = status in (200, 201, 204, 303)
            elif want == "login":
                good = status == 303 and response.headers["location"].endswith(
                    f"/feeds/{world.feed_id}/open"
                )
            else:
                good = status == int(want)
            if not good:
                failures.append(f"{caller.name} {method} {path}: want {want}, got {status} {response.text[:120]}")
    assert failures == []
