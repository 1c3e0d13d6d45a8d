"""The binary, choice and manual NER views, from opening a feed to the stored record.

Each test imports data as a manager over HTTP, annotates in the browser with
the keyboard and the mouse, then reads the stored records back through the
feed export. Offsets in the expected spans come from Python's ``str.index``,
so they are code points, independent of the page's UTF-16 strings.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.cluster.app.conftest import ANNOTATOR_NAME, OpenFeed, Project
from tests.cluster.app.support import (
    drag,
    expect_task,
    offsets,
    screenshot,
    shown_text,
    span_summary,
    stored_spans,
    token,
    wait_until_sent,
)

pytestmark = pytest.mark.browser


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
    page.keyboard.press("h")
    expect(page.locator("#history")).to_have_attribute("open", "")
    # The list starts empty on each page load: only the accept after the reload.
    expect(page.locator(".history-item")).to_have_count(1)
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


def test_ner_long_document_painted_in_parts(project: Project, open_feed: OpenFeed) -> None:
    words = [f"word{n}" for n in range(1, 1201)]
    text = " ".join(words) + "\r\nThe end 🎉 Zoe\u0308 waved."
    across = text.index("word399")
    prefilled = [
        {"start": across, "end": text.index("word402") + len("word402"), "label": "ORG"},
        {"start": text.index("word1100"), "end": text.index("word1100") + 8, "label": "ORG"},
    ]
    feed_id = project.feed(
        [{"text": text, "spans": prefilled}], name="long", interface="ner_manual",
        labels=["PERSON", "ORG"],
    )
    page = open_feed(feed_id)

    # The first part is painted at once and the rest follows; both keep the spans.
    expect_task(page, text)
    assert span_summary(page) == [
        ["ORG", "word399 word400 word401 word402"],
        ["ORG", "word1100"],
    ]
    token(page, "Zoe\u0308").dblclick()
    page.keyboard.press("a")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    stored = project.export(feed_id)[0]
    assert stored_spans(stored) == [
        (prefilled[0]["start"], prefilled[0]["end"], "ORG"),
        (prefilled[1]["start"], prefilled[1]["end"], "ORG"),
        offsets(text, "Zoe\u0308", "PERSON"),
    ]
