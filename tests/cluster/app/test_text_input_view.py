"""The text input view: a free-text answer counted in code points, kept on the cluster."""

from __future__ import annotations

import orjson
import pytest
from playwright.sync_api import expect

from tests.cluster.app.conftest import OpenFeed, Project
from tests.cluster.app.support import expect_task, screenshot, wait_until_sent

pytestmark = pytest.mark.browser

SOURCES = [
    "Translate: The café 🙂 opens at nine.\r\nSee  you there!",
    "مرحبا بالعالم",
    "Describe the weather in one line.",
]
FIRST_ANSWER = "El cafe\u0301 🙂 abre a las nueve."
SECOND_ANSWER = "Hello, world: مرحبا"
EMOJI = "🌧"


def test_text_input_answers_stay_local(project: Project, open_feed: OpenFeed) -> None:
    feed_id = project.feed(
        [{"text": text} for text in SOURCES],
        name="translate",
        interface="text_input",
        field_label="Spanish translation",
        max_length=40,
    )
    page = open_feed(feed_id)
    field = page.get_by_label("Spanish translation")

    # The field has the focus at once, so the annotator can start typing.
    expect_task(page, SOURCES[0])
    expect(field).to_be_focused()
    page.keyboard.type(FIRST_ANSWER)
    expect(page.locator("#answer-count")).to_have_text(f"{len(FIRST_ANSWER)} / 40 characters")
    screenshot(page, "text_input")
    page.keyboard.press("Control+Enter")

    expect_task(page, SOURCES[1])
    expect(field).to_have_value("")
    page.keyboard.insert_text(SECOND_ANSWER)
    page.keyboard.press("Escape")
    expect(field).not_to_be_focused()
    page.keyboard.press("x")

    # 30 emoji are 60 UTF-16 units but 30 code points, under the limit of 40.
    expect_task(page, SOURCES[2])
    page.keyboard.insert_text(EMOJI * 30 + "a" * 11)
    counter = page.locator("#answer-count")
    expect(counter).to_have_text("41 / 40 characters: shorten the text to answer")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#toast")).to_have_text(
        "The text is 41 characters long; this feed takes at most 40."
    )
    expect_task(page, SOURCES[2])
    page.keyboard.press("Backspace")
    expect(counter).to_have_text("40 / 40 characters")
    page.get_by_role("button", name="Accept (a)").click()
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    stored = project.export(feed_id)
    assert [(record["text"], record["answer"], record["user_input"]) for record in stored] == [
        (SOURCES[0], "accept", FIRST_ANSWER),
        (SOURCES[1], "reject", SECOND_ANSWER),
        (SOURCES[2], "accept", EMOJI * 30 + "a" * 10),
    ]
    assert {record["_view_id"] for record in stored} == {"text_input"}

    # The control plane hears of each answer, but never of the text typed.
    events = project.events("answer.created")
    assert [event["labels"] for event in events] == [[], [], []]
    raw = b"".join(orjson.dumps(event) for event in events)
    for record in stored:
        assert record["user_input"].encode() not in raw
