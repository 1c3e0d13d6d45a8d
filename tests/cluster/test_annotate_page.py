"""The annotation page in Debian's chromium against a real cluster server.

Each test imports data as a manager over HTTP, annotates in the browser with
the keyboard and the mouse, then reads the stored records back through the
feed export. Offsets in the expected spans come from Python's ``str.index``,
so they are code points, independent of the page's UTF-16 strings.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Route,
    expect,
    sync_playwright,
)

from tests.cluster.conftest import RunningCluster

pytestmark = pytest.mark.browser
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
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
ANNOTATOR_NAME = "Ada Lovelace"

# Text of the current task without the label chips and remove buttons that
# the page adds inside highlighted spans.
SHOWN_TEXT_JS = """() => {
  const box = document.querySelector('#task-card .task-text').cloneNode(true);
  box.querySelectorAll('.span-label, .span-remove').forEach((node) => node.remove());
  return box.textContent;
}"""


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
    """A manager's HTTP view of the project: datasets, feeds and exports."""

    server: RunningCluster
    client: httpx.Client

    def dataset(self, name: str, records: list[dict[str, Any]]) -> str:
        created = self.client.post("/api/datasets", json={"name": name})
        assert created.status_code == 201, created.text
        dataset_id = created.json()["id"]
        body = b"".join(orjson.dumps(record) + b"\n" for record in records)
        imported = self.client.post(f"/api/datasets/{dataset_id}/import", content=body)
        assert imported.status_code == 200, imported.text
        assert imported.json()["examples_added"] == len(records)
        return dataset_id

    def feed(self, records: list[dict[str, Any]], **spec: Any) -> str:
        dataset_id = self.dataset(f"{spec['name']}-data", records)
        created = self.client.post("/api/feeds", json={"dataset_id": dataset_id, **spec})
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def export(self, feed_id: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/feeds/{feed_id}/export")
        assert response.status_code == 200, response.text
        return [orjson.loads(line) for line in response.content.splitlines()]


@pytest.fixture
def project(cluster_server: RunningCluster) -> Iterator[Project]:
    headers = cluster_server.signer.headers(role="manager", user="manager-1")
    with httpx.Client(base_url=cluster_server.url, headers=headers, timeout=20) as client:
        yield Project(server=cluster_server, client=client)


@dataclass
class BrowserProblems:
    """Script errors and alerts seen on any page. An alert means injected code ran."""

    messages: list[str] = field(default_factory=list)


OpenFeed = Callable[..., Page]


@pytest.fixture
def open_feed(
    browser: Browser, cluster_server: RunningCluster
) -> Iterator[OpenFeed]:
    """Open the annotation page of a feed as an annotator, through POST /auth/enter."""
    contexts: list[BrowserContext] = []
    problems = BrowserProblems()

    def open_page(
        feed_id: str,
        user: str = "annotator-1",
        width: int = 1280,
        height: int = 900,
        touch: bool = False,
    ) -> Page:
        context = browser.new_context(
            viewport={"width": width, "height": height}, has_touch=touch
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("pageerror", lambda error: problems.messages.append(f"error: {error}"))
        page.on("dialog", lambda dialog: problems.messages.append(f"alert: {dialog.message}"))
        token = cluster_server.signer.token(role="annotator", user=user, name=ANNOTATOR_NAME)
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


def shown_text(page: Page) -> str:
    return page.evaluate(SHOWN_TEXT_JS)


def expect_task(page: Page, text: str) -> None:
    expect(page.locator("#task-card")).to_have_attribute("aria-busy", "false")
    page.wait_for_function(
        f"() => ({SHOWN_TEXT_JS})() === {json.dumps(text)}", timeout=10_000
    )
    assert shown_text(page) == text


def wait_until_sent(page: Page) -> None:
    expect(page.locator("#pending-indicator")).to_be_hidden()
    expect(page.locator(".history-state", has_text="sending")).to_have_count(0)


def token(page: Page, text: str) -> Locator:
    exact = re.compile("^" + re.escape(text) + "$")
    return page.locator("#task-card .token").filter(has_text=exact)


def drag(page: Page, first: Locator, last: Locator) -> None:
    first.hover()
    page.mouse.down()
    last.hover()
    page.mouse.up()


def span_summary(page: Page) -> list[tuple[str, str]]:
    """Return (label, text) of each span on screen, in document order."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#task-card .span')].map((span) => [
             span.querySelector('.span-label').textContent,
             [...span.querySelectorAll('.token')].map((t) => t.textContent).join(' '),
           ])"""
    )


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def offsets(text: str, part: str, label: str) -> tuple[int, int, str]:
    start = text.index(part)
    return (start, start + len(part), label)


def stored_spans(record: dict[str, Any]) -> list[tuple[int, int, str]]:
    return [(span["start"], span["end"], span["label"]) for span in record["spans"]]


# ---------------------------------------------------------------- binary

REVIEWS = [
    "Great battery life, but the screen 😍 is dim.",
    "Terrible service.",
    "It works <b>fine</b> <img src=x onerror=alert(1)>.",
    "Nothing special.",
]


def test_binary_answers_undo_reload(project: Project, open_feed: OpenFeed) -> None:
    first = REVIEWS[0]
    records: list[dict[str, Any]] = [{"text": text} for text in REVIEWS]
    start = first.index("screen")
    records[0]["spans"] = [{"start": start, "end": start + 6, "label": "ASPECT"}]
    feed_id = project.feed(
        records,
        name="reviews",
        interface="binary",
        label="POSITIVE",
        instructions="Accept when the review is positive.",
    )
    page = open_feed(feed_id)

    expect_task(page, first)
    expect(page.locator(".task-label-name")).to_have_text("POSITIVE")
    expect(page.locator("#task-card .highlight")).to_have_text("screenASPECT")
    expect(page.locator(".feed-name")).to_have_text("reviews")
    expect(page.locator(".user")).to_contain_text(ANNOTATOR_NAME)
    screenshot(page, "binary")

    page.keyboard.press("a")
    expect_task(page, REVIEWS[1])
    page.keyboard.press("x")
    expect_task(page, REVIEWS[2])
    assert page.locator("#task-card b, #task-card img").count() == 0
    wait_until_sent(page)

    # The reject is stored, so undo goes to the server and leases the task back.
    page.keyboard.press("Backspace")
    expect_task(page, REVIEWS[1])
    page.keyboard.press(" ")
    expect_task(page, REVIEWS[2])
    wait_until_sent(page)

    page.reload()
    expect_task(page, REVIEWS[2])

    page.evaluate(
        "() => { const probe = document.createElement('input');"
        " probe.id = 'probe'; document.body.append(probe); }"
    )
    page.locator("#probe").type("ax ")
    assert shown_text(page) == REVIEWS[2]
    expect(page.locator("#pending-indicator")).to_be_hidden()
    page.locator("#probe").blur()

    page.keyboard.press("?")
    expect(page.locator("#help-dialog")).to_be_visible()
    expect(page.locator("#help-keys")).to_contain_text("Undo the last answer")
    page.keyboard.press("?")
    expect(page.locator("#help-dialog")).to_be_hidden()
    page.keyboard.press("i")
    expect(page.locator("#instructions-text")).to_have_text(
        "Accept when the review is positive."
    )
    page.keyboard.press("Escape")
    expect(page.locator("#instructions-dialog")).to_be_hidden()

    page.get_by_role("button", name="Accept (a)").click()
    expect_task(page, REVIEWS[3])
    wait_until_sent(page)
    expect(page.locator("#progress-text")).to_have_text("You: 3 answered · Feed: 3/4")

    stored = project.export(feed_id)
    assert [(record["text"], record["answer"]) for record in stored] == [
        (REVIEWS[0], "accept"),
        (REVIEWS[1], "ignore"),
        (REVIEWS[2], "accept"),
    ]
    assert {record["_annotator_id"] for record in stored} == {ANNOTATOR_NAME}
    assert stored[0]["label"] == "POSITIVE"
    assert stored[0]["spans"] == records[0]["spans"]


# ---------------------------------------------------------------- choice

TOPICS = [
    "The match ended 2–1 after extra time.",
    "Parliament passed the budget on Friday.",
    "Weather: <img src=x onerror=alert(1)> sunny.",
]


def test_choice_single_with_keys(project: Project, open_feed: OpenFeed) -> None:
    records: list[dict[str, Any]] = [{"text": text} for text in TOPICS]
    start = TOPICS[1].index("Parliament")
    records[1]["spans"] = [{"start": start, "end": start + 10, "label": "ORG"}]
    options = [
        {"id": "sport", "text": "Sport"},
        {"id": "politics", "text": "Politics"},
        {"id": "other", "text": "Other"},
    ]
    feed_id = project.feed(records, name="topics", interface="choice", options=options)
    page = open_feed(feed_id)

    expect_task(page, TOPICS[0])
    page.keyboard.press("1")
    page.keyboard.press("3")
    pressed = page.locator(".option[aria-pressed='true']")
    expect(pressed).to_have_count(1)
    expect(pressed).to_contain_text("Other")
    screenshot(page, "choice")
    page.keyboard.press("a")

    expect_task(page, TOPICS[1])
    expect(page.locator("#task-card .highlight")).to_have_text("ParliamentORG")
    page.locator(".option", has_text="Politics").click()
    page.keyboard.press("a")

    expect_task(page, TOPICS[2])
    assert page.locator("#task-card img").count() == 0
    page.keyboard.press("2")
    page.keyboard.press("2")
    expect(pressed).to_have_count(0)
    page.keyboard.press("x")

    done = page.locator("#done-screen")
    expect(done).to_be_visible()
    expect(page.locator("#done-reason")).to_have_text("All 3 examples in this feed are done.")
    wait_until_sent(page)
    stored = project.export(feed_id)
    assert [record["answer"] for record in stored] == ["accept", "accept", "reject"]
    assert [record["accept"] for record in stored] == [["other"], ["politics"], []]


def test_choice_multiple_task_options(project: Project, open_feed: OpenFeed) -> None:
    task_options = [
        {"id": "red", "text": "Red"},
        {"id": "green", "html": "<b>Green</b><img src=x onerror=alert(1)>"},
        {"id": "blue", "text": "Blue"},
    ]
    texts = ["A ripe tomato and a leaf.", "A fire engine."]
    records = [{"text": text, "options": task_options} for text in texts]
    feed_id = project.feed(records, name="colours", interface="choice", multiple=True)
    page = open_feed(feed_id)

    expect_task(page, texts[0])
    expect(page.locator(".option", has_text="Green")).to_have_count(1)
    assert page.locator(".options b, .options img").count() == 0
    for key in ("1", "2", "3", "1"):
        page.keyboard.press(key)
    pressed = page.locator(".option[aria-pressed='true'] .option-text")
    expect(pressed).to_have_text(["Green", "Blue"])
    page.get_by_role("button", name="Accept (a)").click()

    expect_task(page, texts[1])
    page.locator(".option", has_text="Red").click()
    page.keyboard.press("a")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    stored = project.export(feed_id)
    assert [record["accept"] for record in stored] == [["green", "blue"], ["red"]]


# ---------------------------------------------------------------- ner_manual

MIXED = "Zoe\u0308 met Ana in Sa\u0303o Paulo 👩‍🔬 today.\r\nThen 🎉 José Ramírez left."
ARABIC = "زار محمد القاهرة مع علي يوم الجمعة."
PREFILLED = "Apple hired Tim Cook in 2011."


def test_ner_spans_code_points(project: Project, open_feed: OpenFeed) -> None:
    records = [
        {"text": MIXED},
        {"text": ARABIC},
        {
            "text": PREFILLED,
            "spans": [
                {"start": 0, "end": 5, "label": "ORG"},
                {"start": 24, "end": 28, "label": "DATE"},
            ],
        },
    ]
    feed_id = project.feed(
        records, name="entities", interface="ner_manual",
        labels=["PERSON", "ORG", "GPE", "DATE"],
    )
    page = open_feed(feed_id)

    expect_task(page, MIXED)
    token(page, "Zoe\u0308").dblclick()
    page.keyboard.press("3")
    drag(page, token(page, "Sa\u0303o"), token(page, "Paulo"))
    page.keyboard.press("1")
    token(page, "José").click()
    token(page, "Ramírez").click(modifiers=["Shift"])
    drag(page, token(page, "Ana"), token(page, "Sa\u0303o"))
    expect(page.locator("#toast")).to_contain_text("overlaps the GPE span")
    assert span_summary(page) == [
        ["PERSON", "Zoe\u0308"],
        ["GPE", "Sa\u0303o Paulo"],
        ["PERSON", "José Ramírez"],
    ]
    assert shown_text(page) == MIXED
    screenshot(page, "ner_manual")
    page.keyboard.press("a")

    # The keyboard cursor starts on the token clicked last. Arabic runs right
    # to left, so the right arrow moves back to the previous token.
    expect_task(page, ARABIC)
    page.keyboard.press("3")
    token(page, "القاهرة").dblclick()
    page.keyboard.press("1")
    page.locator("#task-card .tokens").focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    page.keyboard.press("Enter")
    assert span_summary(page) == [
        ["PERSON", "محمد"],
        ["GPE", "القاهرة"],
        ["PERSON", "علي"],
    ]
    screenshot(page, "ner_manual_arabic")
    page.keyboard.press("a")

    expect_task(page, PREFILLED)
    assert span_summary(page) == [["ORG", "Apple"], ["DATE", "2011"]]
    page.get_by_role("button", name="Remove DATE span “2011”").click()
    drag(page, token(page, "Tim"), token(page, "Cook"))
    page.keyboard.press("a")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    # Undo from the done screen brings the task back with the undone answer's spans.
    page.keyboard.press("Backspace")
    expect_task(page, PREFILLED)
    assert span_summary(page) == [["ORG", "Apple"], ["PERSON", "Tim Cook"]]
    page.get_by_role("button", name="Remove ORG span “Apple”").click()
    page.keyboard.press("a")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    stored = project.export(feed_id)
    assert [record["text"] for record in stored] == [MIXED, ARABIC, PREFILLED]
    assert stored_spans(stored[0]) == [
        offsets(MIXED, "Zoe\u0308", "PERSON"),
        offsets(MIXED, "Sa\u0303o Paulo", "GPE"),
        offsets(MIXED, "José Ramírez", "PERSON"),
    ]
    assert stored_spans(stored[1]) == [
        offsets(ARABIC, "محمد", "PERSON"),
        offsets(ARABIC, "القاهرة", "GPE"),
        offsets(ARABIC, "علي", "PERSON"),
    ]
    assert stored_spans(stored[2]) == [offsets(PREFILLED, "Tim Cook", "PERSON")]
    assert all(record["answer"] == "accept" for record in stored)


def test_ner_touch_taps_make_span(project: Project, open_feed: OpenFeed) -> None:
    feed_id = project.feed(
        [{"text": PREFILLED}], name="tablet", interface="ner_manual",
        labels=["PERSON", "ORG"],
    )
    page = open_feed(feed_id, width=820, height=1180, touch=True)

    # A touch screen has no shift key: the second tap ends the span.
    expect_task(page, PREFILLED)
    token(page, "Tim").tap()
    token(page, "Cook").tap()
    page.locator(".label-choice", has_text="ORG").tap()
    token(page, "Apple").tap()
    token(page, "Apple").tap()
    assert span_summary(page) == [["ORG", "Apple"], ["PERSON", "Tim Cook"]]
    expect(page.locator("#toast")).to_be_hidden()
    screenshot(page, "ner_manual_tablet")
    page.get_by_role("button", name="Accept (a)").tap()
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    stored = project.export(feed_id)
    assert stored_spans(stored[0]) == [
        offsets(PREFILLED, "Apple", "ORG"),
        offsets(PREFILLED, "Tim Cook", "PERSON"),
    ]


# ---------------------------------------------------------------- network failures


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
    expect(reason).to_contain_text("others hold leases")
    expect(latecomer.locator("#progress-text")).to_have_text("You: 0 answered · Feed: 0/2")
    screenshot(latecomer, "done_tablet")

    holder.keyboard.press("a")
    expect_task(holder, texts[1])
    holder.keyboard.press("a")
    expect(holder.locator("#done-screen")).to_be_visible()
    wait_until_sent(holder)
    latecomer.get_by_role("button", name="Refresh").click()
    expect(reason).to_have_text("All 2 examples in this feed are done.")
