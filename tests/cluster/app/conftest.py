"""Fixtures for the annotation page in Debian's chromium against a real cluster.

``project`` is a manager's HTTP client for datasets, feeds and exports;
``open_feed`` opens a feed's page as an annotator through ``POST /auth/enter``
and fails the test on any script error or alert in the page.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import select

from concord.cluster.models import OutboxEvent
from tests.cluster.conftest import RunningCluster

expect.set_options(timeout=15_000)

CHROMIUM = Path(os.environ.get("CONCORD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ANNOTATOR_NAME = "Ada Lovelace"


# Module scope: Playwright's sync API keeps an event loop running in this
# thread until it stops, which would break later asyncio tests.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}. Install Debian's chromium package, "
            "set CONCORD_CHROMIUM to the binary, or deselect with -m 'not browser'."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@dataclass
class Project:
    """A manager's HTTP view of the project: datasets, feeds, answers and exports."""

    server: RunningCluster
    client: httpx.Client

    def dataset(self, name: str, records: list[dict[str, Any]]) -> str:
        created = self.client.post("/api/datasets", json={"name": name})
        assert created.status_code == 201, created.text
        dataset_id = created.json()["id"]
        body = b"".join(orjson.dumps(record) + b"\n" for record in records)
        imported = self.client.post(f"/api/datasets/{dataset_id}/import", content=body)
        assert imported.status_code == 200, imported.text
        return dataset_id

    def feed(self, records: list[dict[str, Any]], **spec: Any) -> str:
        dataset_id = self.dataset(f"{spec['name']}-data", records)
        return self.create_feed(dataset_id=dataset_id, **spec)

    def create_feed(self, **spec: Any) -> str:
        created = self.client.post("/api/feeds", json=spec)
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def export(self, feed_id: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/feeds/{feed_id}/export")
        assert response.status_code == 200, response.text
        return [orjson.loads(line) for line in response.content.splitlines()]

    def task_hashes(self, feed_id: str) -> list[int]:
        """Task hashes of the feed's dataset in source order, without leasing any."""
        dataset_id = self.client.get(f"/api/feeds/{feed_id}").json()["dataset_id"]
        response = self.client.get(f"/api/datasets/{dataset_id}/export")
        assert response.status_code == 200, response.text
        return [orjson.loads(line)["_task_hash"] for line in response.content.splitlines()]

    def answer_as(self, user: str, feed_id: str, answer: Callable[[dict], dict]) -> None:
        """Answer every task of the feed as ``user`` through the HTTP API."""
        token = self.server.signer.token(role="annotator", user=user, name=user)
        headers = {"Authorization": f"Bearer {token}"}
        tasks = self.client.post(
            f"/api/feeds/{feed_id}/next", json={"count": 100}, headers=headers
        ).json()["tasks"]
        bodies = [
            {"answer_id": uuid.uuid4().hex, "task_hash": task["_task_hash"], **answer(task)}
            for task in tasks
        ]
        stored = self.client.post(
            f"/api/feeds/{feed_id}/answers", json={"answers": bodies}, headers=headers
        )
        assert stored.status_code == 200, stored.text
        assert len(stored.json()["stored"]) == len(bodies)

    def events(self, kind: str) -> list[dict[str, Any]]:
        """Payloads of the events of ``kind`` the cluster queued for the control plane."""
        with self.server.app.state.context.db.sessions() as session:
            rows = session.scalars(
                select(OutboxEvent.payload)
                .where(OutboxEvent.kind == kind)
                .order_by(OutboxEvent.id)
            )
            return list(rows)


@pytest.fixture
def project(cluster_server: RunningCluster) -> Iterator[Project]:
    headers = cluster_server.signer.headers(role="manager", user="manager-1")
    with httpx.Client(base_url=cluster_server.url, headers=headers, timeout=20) as client:
        yield Project(server=cluster_server, client=client)


@dataclass
class BrowserProblems:
    """Script errors, alerts and blocked content seen on any page.

    An alert means injected code ran; a Content Security Policy report means
    the page tried to load or run something the cluster's policy forbids.
    """

    messages: list[str] = field(default_factory=list)

    def note_console(self, text: str) -> None:
        if "Content Security Policy" in text:
            self.messages.append(f"csp: {text}")


OpenFeed = Callable[..., Page]


@pytest.fixture
def open_feed(browser: Browser, cluster_server: RunningCluster) -> Iterator[OpenFeed]:
    """Open the annotation page of a feed as an annotator, through POST /auth/enter."""
    contexts: list[BrowserContext] = []
    problems = BrowserProblems()

    def open_page(
        feed_id: str,
        user: str = "annotator-1",
        role: str = "annotator",
        width: int = 1280,
        height: int = 900,
        touch: bool = False,
        context: BrowserContext | None = None,
    ) -> Page:
        if context is None:
            context = browser.new_context(
                viewport={"width": width, "height": height}, has_touch=touch
            )
            contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: problems.messages.append(f"error: {error}"))
        page.on("dialog", lambda dialog: problems.messages.append(f"alert: {dialog.message}"))
        page.on("console", lambda message: problems.note_console(message.text))
        token = cluster_server.signer.token(role=role, user=user, name=ANNOTATOR_NAME)
        entered = page.request.post(
            f"{cluster_server.url}/auth/enter",
            form={"token": token, "next": f"/annotate/{feed_id}"},
        )
        assert entered.ok, entered.text()
        page.goto(f"{cluster_server.url}/annotate/{feed_id}")
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert problems.messages == []
