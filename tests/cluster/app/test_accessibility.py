"""Every control on the page has a name, and the keyboard reaches the task first."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.cluster.app.conftest import OpenFeed, Project
from tests.cluster.app.support import expect_task
from tests.cluster.pictures import png_bytes

pytestmark = pytest.mark.browser

# Controls a keyboard or a screen reader can reach, and the name each one has.
UNNAMED_JS = """() => [...document.querySelectorAll(
    'button, [role=button], [role=radio], textarea, input, [tabindex="0"], a[href]'
  )].filter((node) => node.offsetParent !== null)
   .filter((node) => {
     const labelled = node.getAttribute('aria-label') || node.getAttribute('aria-labelledby');
     const label = node.id && document.querySelector(`label[for="${node.id}"]`);
     return !(labelled || label || node.textContent.trim());
   })
   .map((node) => node.outerHTML.slice(0, 120))"""


def unnamed_controls(page: Page) -> list[str]:
    return page.evaluate(UNNAMED_JS)


def test_controls_named_in_every_view(project: Project, open_feed: OpenFeed) -> None:
    (project.server.media_dir / "pic.png").write_bytes(png_bytes(80, 60))
    text = "Ada met Grace in London."
    feeds = [
        project.feed([{"text": text, "spans": [{"start": 0, "end": 3, "label": "PERSON"}]}],
                     name="a11y-spans", interface="spans_manual", labels=["PERSON"]),
        project.feed([{"text": text}], name="a11y-text", interface="text_input"),
        project.feed([{"image": "pic.png", "spans": [
            {"label": "CAT", "x": 1, "y": 1, "width": 10, "height": 10}]}],
            name="a11y-image", interface="image_manual", labels=["CAT"]),
    ]
    for feed_id in feeds:
        page = open_feed(feed_id)
        expect(page.locator("#task-card")).to_have_attribute("aria-busy", "false")
        assert unnamed_controls(page) == []


def test_skip_link_reaches_the_text(project: Project, open_feed: OpenFeed) -> None:
    text = "Keyboard users start here."
    feed_id = project.feed([{"text": text}], name="a11y-ner", interface="ner_manual",
                           labels=["PERSON"])
    page = open_feed(feed_id)
    expect_task(page, text)

    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("#task-card .tokens")).to_be_focused()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    expect(page.locator("#task-card .span")).to_have_text("KeyboardPERSON×")
