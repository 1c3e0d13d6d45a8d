"""Air-gapped use: the page loads every script, style and image from the cluster."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from tests.cluster.app.conftest import OpenFeed, Project
from tests.cluster.app.support import expect_shown_task, expect_task, wait_until_sent
from tests.cluster.pictures import png_bytes

pytestmark = pytest.mark.browser


def record_requests(page: Page, seen: list[str]) -> None:
    def remember(request: Request) -> None:
        seen.append(request.url)

    page.on("request", remember)


def test_page_requests_only_the_cluster(project: Project, open_feed: OpenFeed) -> None:
    (project.server.media_dir / "cat.png").write_bytes(png_bytes(64, 48))
    texts = ["First 🙂 text.", "Second text."]
    binary = project.feed(
        [{"text": text} for text in texts], name="plain", interface="binary", label="OK"
    )
    boxes = project.feed(
        [{"image": "cat.png"}], name="pictures", interface="image_manual", labels=["CAT"]
    )
    seen: list[str] = []

    page = open_feed(binary)
    record_requests(page, seen)
    page.reload()
    expect_task(page, texts[0])
    page.keyboard.press("a")
    expect_task(page, texts[1])
    page.keyboard.press("?")
    page.keyboard.press("Escape")
    wait_until_sent(page)

    page = open_feed(boxes)
    record_requests(page, seen)
    page.reload()
    expect_shown_task(page, project.task_hashes(boxes)[0])
    expect(page.locator("#task-card .stage-image")).to_have_js_property("naturalWidth", 64)
    page.keyboard.press("b")
    page.keyboard.press("a")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    cluster = urlsplit(project.server.url)
    foreign = [
        url for url in seen
        if urlsplit(url).scheme != "data" and urlsplit(url).netloc != cluster.netloc
    ]
    assert foreign == []
    paths = {urlsplit(url).path for url in seen}
    assert "/static/app/main.js" in paths
    assert "/static/app/views/image.js" in paths
    assert "/static/app/css/page.css" in paths
    assert f"/api/feeds/{boxes}/media/{project.task_hashes(boxes)[0]}" in paths
    assert all(urlsplit(url).scheme in ("http", "data") for url in seen)
