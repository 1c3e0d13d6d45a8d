"""Nothing lost or repeated: reloads, network loss, two tabs and expired sessions.

Every test ends by reading the feed's export, so it checks what the cluster
stored, not what the page believes it sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.cluster.app.conftest import OpenFeed, Project
from tests.cluster.app.support import expect_task, screenshot, wait_until_sent

pytestmark = pytest.mark.browser


@dataclass
class AnswerRoute:
    """Intercepts POST .../answers: "down" fails it, "lost" stores it but fails the reply."""

    mode: str = "down"
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, route: Route) -> None:
        body = route.request.post_data_json
        self.bodies.append(body)
        if self.mode == "down":
            route.abort("internetdisconnected")
        elif self.mode == "lost":
            route.fetch()
            self.mode = "up"
            route.abort("connectionreset")
        else:
            route.continue_()


def test_pending_answers_survive_reload(project: Project, open_feed: OpenFeed) -> None:
    texts = ["First text.", "Second text.", "Third text."]
    feed_id = project.feed(
        [{"text": text} for text in texts], name="flaky", interface="binary", label="OK"
    )
    page = open_feed(feed_id)
    answers = AnswerRoute()
    page.route("**/answers", answers.handle)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    expect_task(page, texts[0])
    page.keyboard.press("a")
    expect_task(page, texts[1])
    page.keyboard.press("x")
    expect_task(page, texts[2])
    indicator = page.locator("#pending-indicator")
    expect(indicator).to_contain_text("2 answers waiting to be sent")

    # The reject never reached the server, so undo drops it in the page.
    page.keyboard.press("Backspace")
    expect_task(page, texts[1])
    expect(indicator).to_contain_text("1 answer waiting to be sent")
    assert [url for url in requested if url.endswith("/undo")] == []

    page.reload()
    expect_task(page, texts[1])
    expect(indicator).to_contain_text("1 answer waiting to be sent, next try in")
    answers.mode = "lost"
    expect(indicator).to_be_hidden(timeout=20_000)

    sent_ids = {body["answers"][0]["answer_id"] for body in answers.bodies}
    assert len(answers.bodies) >= 3
    assert len(sent_ids) == 1
    stored = project.export(feed_id)
    assert [(record["text"], record["answer"]) for record in stored] == [(texts[0], "accept")]
    storage = page.evaluate("() => Object.keys(localStorage)")
    assert storage == []


def test_expired_session_goes_to_control(project: Project, open_feed: OpenFeed) -> None:
    texts = ["Only text."]
    feed_id = project.feed(
        [{"text": text} for text in texts], name="expiry", interface="binary", label="OK"
    )
    page = open_feed(feed_id)
    expect_task(page, texts[0])
    page.route(
        f"**/feeds/{feed_id}/open",
        lambda route: route.fulfill(body="<p id='control'>control plane</p>",
                                    content_type="text/html"),
    )

    page.context.clear_cookies()
    page.keyboard.press("a")
    expect(page.locator("#control")).to_be_visible()
    assert page.url.endswith(f"/feeds/{feed_id}/open")
    assert project.export(feed_id) == []


def test_done_screen_names_leases(project: Project, open_feed: OpenFeed) -> None:
    texts = ["One.", "Two."]
    feed_id = project.feed(
        [{"text": text} for text in texts], name="shared", interface="binary", label="OK"
    )
    holder = open_feed(feed_id, user="annotator-1")
    expect_task(holder, texts[0])

    latecomer = open_feed(feed_id, user="annotator-2", width=820, height=1000)
    expect(latecomer.locator("#done-screen")).to_be_visible()
    reason = latecomer.locator("#done-reason")
    expect(reason).to_have_text(
        "No task is open to you right now. The 2 examples left wait for other "
        "annotators, or others hold leases on them. Check back later: a lease that "
        "is not answered in time expires and frees its task."
    )
    expect(latecomer.locator("#progress-text")).to_have_text("You: 0 answered · Feed: 0/2")
    screenshot(latecomer, "done_tablet")

    holder.keyboard.press("a")
    expect_task(holder, texts[1])
    holder.keyboard.press("a")
    expect(holder.locator("#done-screen")).to_be_visible()
    wait_until_sent(holder)
    latecomer.keyboard.press("r")
    expect(reason).to_have_text("All 2 examples in this feed are done.")


def answer_and_wait(page: Page, key: str, next_text: str | None) -> None:
    page.keyboard.press(key)
    if next_text is not None:
        expect_task(page, next_text)


def test_reload_and_offline_lose_nothing(project: Project, open_feed: OpenFeed) -> None:
    texts = [f"Sentence number {n} 🙂 ok." for n in range(1, 7)]
    feed_id = project.feed(
        [{"text": text} for text in texts], name="offline", interface="binary", label="OK"
    )
    page = open_feed(feed_id)
    posted: list[str] = []
    page.on(
        "request",
        lambda request: posted.append(request.url) if request.url.endswith("/answers") else None,
    )

    expect_task(page, texts[0])
    answer_and_wait(page, "a", texts[1])
    answer_and_wait(page, "x", texts[2])
    wait_until_sent(page)

    # The server leased the third task to this annotator, so it comes back first.
    page.reload()
    expect_task(page, texts[2])
    answer_and_wait(page, " ", texts[3])
    wait_until_sent(page)

    page.context.set_offline(True)
    answer_and_wait(page, "a", texts[4])
    answer_and_wait(page, "a", texts[5])
    indicator = page.locator("#pending-indicator")
    expect(indicator).to_contain_text("Offline: 2 answers waiting to be sent")
    page.keyboard.press("x")
    expect(page.locator("#done-title")).to_have_text("Waiting for the network")
    expect(indicator).to_contain_text("3 answers waiting")
    screenshot(page, "offline_waiting")
    page.wait_for_timeout(3_000)
    assert [record["text"] for record in project.export(feed_id)] == texts[:3]

    page.context.set_offline(False)
    expect(page.locator("#done-title")).to_have_text("No more tasks for you in this feed")
    expect(page.locator("#done-reason")).to_have_text("All 6 examples in this feed are done.")
    wait_until_sent(page)

    stored = project.export(feed_id)
    assert [(record["text"], record["answer"]) for record in stored] == list(
        zip(texts, ["accept", "reject", "ignore", "accept", "accept", "reject"])
    )
    assert len({record["_task_hash"] for record in stored}) == len(texts)
    assert page.evaluate("() => Object.keys(localStorage)") == []
    assert len(posted) >= len(texts)


def test_two_tabs_answer_each_task_once(project: Project, open_feed: OpenFeed) -> None:
    texts = ["Alpha task.", "Beta task.", "Gamma task.", "Delta task."]
    feed_id = project.feed(
        [{"text": text} for text in texts], name="two-tabs", interface="binary", label="OK"
    )
    first = open_feed(feed_id)
    expect_task(first, texts[0])
    second = open_feed(feed_id, context=first.context)
    expect_task(second, texts[0])

    # Both tabs show the task the server leased; answering it in one tab
    # moves the other tab on to the next task.
    first.keyboard.press("a")
    expect_task(first, texts[1])
    expect_task(second, texts[1])
    expect(second.locator("#toast")).to_contain_text("another tab")
    second.keyboard.press("x")
    expect_task(second, texts[2])
    expect_task(first, texts[2])
    first.keyboard.press("a")
    expect_task(second, texts[3])
    second.keyboard.press("a")
    expect(second.locator("#done-screen")).to_be_visible()
    expect(first.locator("#done-screen")).to_be_visible()
    wait_until_sent(first)
    wait_until_sent(second)

    stored = project.export(feed_id)
    assert [(record["text"], record["answer"]) for record in stored] == [
        (texts[0], "accept"),
        (texts[1], "reject"),
        (texts[2], "accept"),
        (texts[3], "accept"),
    ]


def test_done_screen_names_quota(project: Project, open_feed: OpenFeed) -> None:
    texts = ["First.", "Second.", "Third."]
    feed_id = project.feed(
        [{"text": text} for text in texts], name="quota", interface="binary", label="OK",
        quota=2, lease_seconds=15,
    )
    page = open_feed(feed_id)
    beats: list[str] = []
    page.on("request", lambda r: beats.append(r.url) if r.url.endswith("/heartbeat") else None)

    expect_task(page, texts[0])
    # With 15 s leases the page renews them every 5 s while a task is shown.
    page.wait_for_timeout(5_500)
    assert len(beats) >= 1
    page.keyboard.press("a")
    expect_task(page, texts[1])
    page.keyboard.press("a")
    expect(page.locator("#done-reason")).to_have_text(
        "You have answered your quota of 2 tasks in this feed. Thank you!"
    )
    wait_until_sent(page)
    assert [record["text"] for record in project.export(feed_id)] == texts[:2]
