"""The manual spans view: overlapping token-snapped spans, stored as code points."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.cluster.app.conftest import OpenFeed, Project
from tests.cluster.app.support import (
    drag,
    expect_task,
    listed_spans,
    screenshot,
    token,
    token_span,
    wait_until_sent,
)

pytestmark = pytest.mark.browser

LABELS = ["PERSON", "ORG", "GPE", "DATE"]
SCIENCE = (
    "Dr. Zoe\u0308 Ng led the 🧪 lab at Universidad de Sa\u0303o Paulo.\r\n"
    "She moved  to   Lisbon in 2019."
)
ARABIC = "زار محمد بن سلمان القاهرة أمس."
CITY = "New  York\r\nCity Hall"


def test_spans_overlap_and_code_points(project: Project, open_feed: OpenFeed) -> None:
    prefilled = [
        {"start": 0, "end": 9, "label": "GPE"},
        {"start": 0, "end": 20, "label": "ORG"},
    ]
    records = [{"text": SCIENCE}, {"text": ARABIC}, {"text": CITY, "spans": prefilled}]
    feed_id = project.feed(records, name="spans", interface="spans_manual", labels=LABELS)
    page = open_feed(feed_id)

    expect_task(page, SCIENCE)
    page.keyboard.press("2")
    drag(page, token(page, "Universidad"), token(page, "Paulo"))
    page.keyboard.press("3")
    drag(page, token(page, "Sa\u0303o"), token(page, "Paulo"))
    page.keyboard.press("1")
    token(page, "Zoe\u0308").click()
    token(page, "Ng").click(modifiers=["Shift"])
    token(page, "Ng").dblclick()
    token(page, "Ng").dblclick()
    expect(page.locator("#toast")).to_have_text("That PERSON span is already there.")
    page.keyboard.press("3")
    token(page, "Lisbon").dblclick()
    page.keyboard.press("4")
    token(page, "2019").dblclick()
    page.get_by_role("button", name="Remove PERSON span “Ng”").click()
    assert listed_spans(page) == [
        ("PERSON", "Zoe\u0308 Ng"),
        ("ORG", "Universidad de Sa\u0303o Paulo"),
        ("GPE", "Sa\u0303o Paulo"),
        ("GPE", "Lisbon"),
        ("DATE", "2019"),
    ]
    screenshot(page, "spans_manual")
    page.keyboard.press("a")

    expect_task(page, ARABIC)
    page.keyboard.press("1")
    drag(page, token(page, "محمد"), token(page, "سلمان"))
    drag(page, token(page, "بن"), token(page, "سلمان"))
    page.keyboard.press("3")
    token(page, "القاهرة").dblclick()
    assert listed_spans(page) == [
        ("PERSON", "محمد بن سلمان"),
        ("PERSON", "بن سلمان"),
        ("GPE", "القاهرة"),
    ]
    screenshot(page, "spans_manual_arabic")
    page.get_by_role("button", name="Accept (a)").click()

    # Pre-filled overlapping spans across CRLF and a run of spaces come back as stored.
    expect_task(page, CITY)
    assert listed_spans(page) == [("ORG", CITY), ("GPE", "New  York")]
    page.keyboard.press("a")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    science, arabic, city = project.export(feed_id)
    assert science["text"] == SCIENCE
    assert science["answer"] == "accept"
    assert science["_view_id"] == "spans_manual"
    assert science["spans"] == [
        token_span(science, "Zoe\u0308 Ng", "PERSON"),
        token_span(science, "Universidad de Sa\u0303o Paulo", "ORG"),
        token_span(science, "Sa\u0303o Paulo", "GPE"),
        token_span(science, "Lisbon", "GPE"),
        token_span(science, "2019", "DATE"),
    ]
    assert arabic["spans"] == [
        token_span(arabic, "محمد بن سلمان", "PERSON"),
        token_span(arabic, "بن سلمان", "PERSON"),
        token_span(arabic, "القاهرة", "GPE"),
    ]
    assert city["spans"] == [
        token_span(city, "New  York", "GPE"),
        token_span(city, "New  York\r\nCity Hall", "ORG"),
    ]
    assert [(span["start"], span["end"]) for span in city["spans"]] == [(0, 9), (0, 20)]
