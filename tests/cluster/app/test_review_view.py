"""The review view: versions with who gave them, picked, edited, stored with ``versions``."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.cluster.app.conftest import OpenFeed, Project
from tests.cluster.app.support import (
    drag,
    expect_task,
    screenshot,
    span_summary,
    token,
    token_span,
    wait_until_sent,
)

pytestmark = pytest.mark.browser

HISTORY = "Ada Lovelace met Charles Babbage in London."
NAVY = "Grace Hopper 👩\u200d💻 wrote COBOL.\r\nShe served in the Navy."
LABELS = ["PERSON", "ORG", "GPE"]


def spans_in(text: str, *parts: tuple[str, str]) -> list[dict[str, Any]]:
    spans = []
    for part, label in parts:
        start = text.index(part)
        spans.append({"start": start, "end": start + len(part), "label": label})
    return spans


def ner_answers(by_text: dict[str, tuple[str, list[tuple[str, str]]]]):  # noqa: ANN201
    def answer(task: dict[str, Any]) -> dict[str, Any]:
        kind, parts = by_text[task["text"]]
        return {"answer": kind, "spans": spans_in(task["text"], *parts)}

    return answer


def test_review_ner_pick_edit_reject(project: Project, open_feed: OpenFeed) -> None:
    source = project.feed(
        [{"text": HISTORY}, {"text": NAVY}],
        name="people",
        interface="ner_manual",
        labels=LABELS,
        overlap=3,
    )
    everyone = [("Ada Lovelace", "PERSON"), ("Charles Babbage", "PERSON"), ("London", "GPE")]
    project.answer_as("alice", source, ner_answers({
        HISTORY: ("accept", everyone),
        NAVY: ("accept", [("Grace Hopper", "PERSON")]),
    }))
    project.answer_as("bob", source, ner_answers({
        HISTORY: ("accept", [("Ada Lovelace", "PERSON"), ("London", "GPE")]),
        NAVY: ("accept", [("Grace Hopper", "PERSON"), ("Navy", "ORG")]),
    }))
    project.answer_as("carol", source, ner_answers({
        HISTORY: ("accept", everyone),
        NAVY: ("reject", []),
    }))
    review = project.create_feed(name="people-review", interface="review", source_feed_id=source)
    page = open_feed(review, user="reviewer-1", role="reviewer")

    expect_task(page, HISTORY)
    cards = page.locator(".version")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("by alice, carol")
    expect(cards.nth(1)).to_contain_text("by bob")
    expect(cards.nth(0)).to_have_attribute("aria-checked", "true")
    assert span_summary(page) == [
        ["PERSON", "Ada Lovelace"], ["PERSON", "Charles Babbage"], ["GPE", "London"],
    ]
    page.keyboard.press("v")
    expect(cards.nth(1)).to_have_attribute("aria-checked", "true")
    assert span_summary(page) == [["PERSON", "Ada Lovelace"], ["GPE", "London"]]
    page.keyboard.press("Shift+V")
    expect(cards.nth(0)).to_have_attribute("aria-checked", "true")

    # Edit the version shown: London becomes an organisation.
    page.get_by_role("button", name="Remove GPE span “London”").click()
    page.keyboard.press("2")
    token(page, "London").dblclick()
    expect(cards.nth(0)).to_contain_text("edited")
    screenshot(page, "review_ner")
    page.keyboard.press("a")

    expect_task(page, NAVY)
    expect(cards).to_have_count(3)
    page.keyboard.press("x")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    history, navy = project.export(review)
    assert history["answer"] == "accept"
    assert history["_view_id"] == "review"
    assert history["view_id"] == "ner_manual"
    assert history["_annotator_id"] == "Ada Lovelace"
    assert history["spans"] == [
        token_span(history, "Ada Lovelace", "PERSON"),
        token_span(history, "Charles Babbage", "PERSON"),
        token_span(history, "London", "ORG"),
    ]
    assert history["versions"] == [
        {
            "answer": "accept",
            "spans": [
                token_span(history, "Ada Lovelace", "PERSON"),
                token_span(history, "Charles Babbage", "PERSON"),
                token_span(history, "London", "GPE"),
            ],
            "sessions": ["people-alice", "people-carol"],
            "annotators": ["alice", "carol"],
            "default": True,
        },
        {
            "answer": "accept",
            "spans": [
                token_span(history, "Ada Lovelace", "PERSON"),
                token_span(history, "London", "GPE"),
            ],
            "sessions": ["people-bob"],
            "annotators": ["bob"],
            "default": False,
        },
    ]
    assert navy["answer"] == "reject"
    assert navy["spans"] == [token_span(navy, "Grace Hopper", "PERSON")]
    assert [(version["answer"], version["annotators"]) for version in navy["versions"]] == [
        ("accept", ["alice"]),
        ("accept", ["bob"]),
        ("reject", ["carol"]),
    ]
    assert [event["labels"] for event in project.events("answer.created")][-2:] == [
        ["ORG", "PERSON"],
        ["PERSON"],
    ]


def test_review_choice_and_text(project: Project, open_feed: OpenFeed) -> None:
    options = [{"id": "A", "text": "Positive"}, {"id": "B", "text": "Neutral"},
               {"id": "C", "text": "Negative"}]
    question = "The service was slow but friendly 🙂."
    choice = project.feed([{"text": question}], name="tone", interface="choice",
                          options=options, overlap=2)
    project.answer_as("alice", choice, lambda task: {"answer": "accept", "accept": ["A"]})
    project.answer_as("bob", choice, lambda task: {"answer": "accept", "accept": ["B"]})
    source = "Bonjour tout le monde"
    text = project.feed([{"text": source}], name="french", interface="text_input",
                        field_label="English", overlap=2)
    project.answer_as("alice", text, lambda task: {"answer": "accept", "user_input": "Hello all"})
    project.answer_as(
        "bob", text, lambda task: {"answer": "accept", "user_input": "Hello, everyone 👋"}
    )
    choice_review = project.create_feed(
        name="tone-review", interface="review", source_feed_id=choice
    )
    text_review = project.create_feed(
        name="french-review", interface="review", source_feed_id=text
    )

    page = open_feed(choice_review, user="reviewer-1", role="reviewer")
    expect_task(page, question)
    expect(page.locator(".version").nth(0)).to_contain_text("Positive")
    expect(page.locator(".version").nth(1)).to_contain_text("Neutral")
    page.keyboard.press("v")
    expect(page.locator(".option[aria-pressed='true']")).to_contain_text("Neutral")
    page.keyboard.press("3")
    expect(page.locator(".option[aria-pressed='true']")).to_contain_text("Negative")
    screenshot(page, "review_choice")
    page.keyboard.press("a")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    page = open_feed(text_review, user="reviewer-1", role="reviewer")
    expect_task(page, source)
    expect(page.locator(".answer-quote")).to_have_text("Hello all")
    page.locator(".version").nth(1).click()
    expect(page.locator(".answer-quote")).to_have_text("Hello, everyone 👋")
    screenshot(page, "review_text_input")
    page.keyboard.press("a")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    (tone,) = project.export(choice_review)
    assert (tone["answer"], tone["accept"], tone["view_id"]) == ("accept", ["C"], "choice")
    assert [(v["accept"], v["annotators"]) for v in tone["versions"]] == [
        (["A"], ["alice"]),
        (["B"], ["bob"]),
    ]
    (french,) = project.export(text_review)
    assert (french["answer"], french["user_input"]) == ("accept", "Hello, everyone 👋")
    assert [v["user_input"] for v in french["versions"]] == ["Hello all", "Hello, everyone 👋"]
