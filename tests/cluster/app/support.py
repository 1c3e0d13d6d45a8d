"""Reading and driving the annotation page in tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"

# Text of the current task without the label chips and remove buttons that
# the page adds inside highlighted spans.
SHOWN_TEXT_JS = """() => {
  const box = document.querySelector('#task-card .task-text').cloneNode(true);
  box.querySelectorAll('.span-label, .span-remove, .span-tag').forEach((node) => node.remove());
  return box.textContent;
}"""


def shown_text(page: Page) -> str:
    return page.evaluate(SHOWN_TEXT_JS)


def expect_task(page: Page, text: str) -> None:
    expect(page.locator("#task-card")).to_have_attribute("aria-busy", "false")
    page.wait_for_function(
        f"() => ({SHOWN_TEXT_JS})() === {json.dumps(text)}", timeout=10_000
    )
    assert shown_text(page) == text


def expect_shown_task(page: Page, task_hash: int) -> None:
    expect(page.locator("#task-card")).to_have_attribute("data-task-hash", str(task_hash))


def wait_until_sent(page: Page) -> None:
    expect(page.locator("#pending-indicator")).to_be_hidden()
    expect(page.locator(".history-state", has_text="sending")).to_have_count(0)


def token(page: Page, text: str, within: str = "#task-card") -> Locator:
    exact = re.compile("^" + re.escape(text) + "$")
    return page.locator(f"{within} .token").filter(has_text=exact)


def drag(page: Page, first: Locator, last: Locator) -> None:
    first.hover()
    page.mouse.down()
    last.hover()
    page.mouse.up()


def span_summary(page: Page) -> list[tuple[str, str]]:
    """Return (label, text) of each NER span on screen, in document order."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#task-card .span')].map((span) => [
             span.querySelector('.span-label').textContent,
             [...span.querySelectorAll('.token')].map((t) => t.textContent).join(' '),
           ])"""
    )


def listed_spans(page: Page) -> list[tuple[str, str]]:
    """Return (label, text) of each entry of the span or box list under the task."""
    items = page.evaluate(
        """() => [...document.querySelectorAll('#task-card .span-item')].map((item) => [
             item.querySelector('.span-item-label').textContent,
             item.querySelector('.span-item-text').textContent,
           ])"""
    )
    return [(label, text) for label, text in items]


def screenshot(page: Page, name: str) -> None:
    """Save the whole page. The answer bar, which sticks to the bottom of the
    window, is drawn in its place at the end so it hides nothing."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => document.getElementById('actions').style.position = 'static'")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.evaluate("() => document.getElementById('actions').style.removeProperty('position')")


def offsets(text: str, part: str, label: str) -> tuple[int, int, str]:
    start = text.index(part)
    return (start, start + len(part), label)


def stored_spans(record: dict[str, Any]) -> list[tuple[int, int, str]]:
    return [(span["start"], span["end"], span["label"]) for span in record["spans"]]


def token_span(record: dict[str, Any], part: str, label: str, nth: int = 0) -> dict[str, Any]:
    """The stored form of the span over the ``nth`` occurrence of ``part``."""
    text = record["text"]
    start = -1
    for _ in range(nth + 1):
        start = text.index(part, start + 1)
    end = start + len(part)
    starts = {t["start"]: t["id"] for t in record["tokens"]}
    ends = {t["end"]: t["id"] for t in record["tokens"]}
    return {
        "start": start,
        "end": end,
        "token_start": starts[start],
        "token_end": ends[end],
        "label": label,
    }
