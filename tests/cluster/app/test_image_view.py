"""The image view: boxes drawn, moved, resized and labelled, stored in image pixels."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from concord.cluster.validation import box_record
from tests.cluster.app.conftest import OpenFeed, Project
from tests.cluster.app.support import expect_shown_task, listed_spans, screenshot
from tests.cluster.app.support import wait_until_sent
from tests.cluster.pictures import data_uri, png_bytes

pytestmark = pytest.mark.browser

LABELS = ["PERSON", "CAR", "TREE"]
STREET = png_bytes(
    1200, 900, (203, 213, 225), [(100, 500, 500, 250, (37, 99, 235)), (800, 150, 200, 600, (22, 101, 52))]
)
PORTRAIT = png_bytes(320, 240, (254, 243, 199), [(120, 60, 80, 150, (185, 28, 28))])
PARK = png_bytes(200, 150, (220, 252, 231), [(20, 30, 40, 90, (21, 128, 61))])


def image_rect(page: Page) -> dict[str, float]:
    return page.locator("#task-card .stage-image").bounding_box()


def to_image(page: Page, point: tuple[float, float], size: tuple[int, int]) -> tuple[int, int]:
    """The image pixel under a screen point, rounded as the page rounds it."""
    rect = image_rect(page)
    x = min(max((point[0] - rect["x"]) / rect["width"] * size[0], 0), size[0])
    y = min(max((point[1] - rect["y"]) / rect["height"] * size[1], 0), size[1])
    return round(x), round(y)


def mouse_drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    page.mouse.move(*end)
    page.mouse.up()


def box_centre(page: Page, index: int) -> tuple[float, float]:
    box = page.locator(f"#task-card .box[data-index='{index}']").bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def handle_centre(page: Page, corner: str) -> tuple[float, float]:
    handle = page.locator(f"#task-card .box.selected .box-handle.{corner}").bounding_box()
    return handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2


def stored_box(label: str, x: int, y: int, width: int, height: int) -> dict[str, Any]:
    return box_record(label, x, y, width, height)


def test_image_boxes_mouse_and_keys(project: Project, open_feed: OpenFeed) -> None:
    media = project.server.media_dir
    (media / "street.png").write_bytes(STREET)
    (media / "parks").mkdir()
    (media / "parks" / "park.png").write_bytes(PARK)
    prefilled = [{"label": "PERSON", "x": 10, "y": 20, "width": 30, "height": 40}]
    records = [
        {"image": "street.png", "meta": {"camera": "north"}},
        {"image": data_uri(PORTRAIT)},
        {"image": "parks/park.png", "spans": prefilled},
    ]
    feed_id = project.feed(records, name="boxes", interface="image_manual", labels=LABELS)
    hashes = project.task_hashes(feed_id)
    page = open_feed(feed_id)

    # Draw with the mouse on an image shown smaller than its 1200 x 900 pixels.
    expect_shown_task(page, hashes[0])
    expect(page.locator("#task-card .stage-image")).to_have_js_property("complete", True)
    page.keyboard.press("2")
    rect = image_rect(page)
    assert rect["width"] < 1200
    start = (rect["x"] + rect["width"] * 0.1, rect["y"] + rect["height"] * 0.2)
    end = (rect["x"] + rect["width"] * 0.4, rect["y"] + rect["height"] * 0.6)
    mouse_drag(page, start, end)
    (x0, y0), (x1, y1) = to_image(page, start, (1200, 900)), to_image(page, end, (1200, 900))
    assert listed_spans(page) == [("CAR", f"x {x0}, y {y0}, {x1 - x0} × {y1 - y0} px")]

    # Move it by dragging its middle, then resize it by its bottom-right handle.
    centre = box_centre(page, 0)
    moved_to = (centre[0] + 50, centre[1] + 30)
    mouse_drag(page, centre, moved_to)
    scale = rect["width"] / 1200
    x0, y0 = round(x0 + 50 / scale), round(y0 + 30 / scale)
    handle = handle_centre(page, "se")
    corner = (handle[0] + 40, handle[1] + 20)
    mouse_drag(page, handle, corner)
    x1, y1 = to_image(page, corner, (1200, 900))
    first_box = stored_box("CAR", x0, y0, x1 - x0, y1 - y0)

    # Add a box with the keyboard, relabel it, move it and make it taller.
    page.keyboard.press("b")
    page.keyboard.press("3")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Shift+ArrowDown")
    step = max(1, round(4 / scale))
    second_box = stored_box("TREE", 450 - 2 * step, 338, 300, 225 + step)

    # A third box, drawn by mistake, goes with the delete key.
    mouse_drag(page, (rect["x"] + 5, rect["y"] + 5), (rect["x"] + 60, rect["y"] + 60))
    expect(page.locator("#task-card .box")).to_have_count(3)
    page.keyboard.press("Delete")
    expect(page.locator("#task-card .box")).to_have_count(2)
    page.mouse.move(0, 0)
    screenshot(page, "image_manual")
    page.keyboard.press("?")
    expect(page.locator("#help-keys")).to_contain_text("Resize the selected box")
    page.keyboard.press("Escape")
    page.keyboard.press("a")

    # A data URI image at its own size, boxed with the keyboard alone.
    expect_shown_task(page, hashes[1])
    page.keyboard.press("1")
    page.keyboard.press("b")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    assert listed_spans(page) == [("PERSON", "x 132, y 90, 84 × 60 px")]
    page.keyboard.press("a")

    # Pre-filled boxes show; removing the only one and rejecting stores no box.
    expect_shown_task(page, hashes[2])
    assert listed_spans(page) == [("PERSON", "x 10, y 20, 30 × 40 px")]
    page.get_by_role("button", name="Remove PERSON box 1").click()
    expect(page.locator("#task-card .box")).to_have_count(0)
    page.keyboard.press("x")
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)

    street, portrait, park = project.export(feed_id)
    assert street["image"] == "street.png"
    assert (street["width"], street["height"]) == (1200, 900)
    assert street["spans"] == [first_box, second_box]
    assert street["answer"] == "accept"
    assert street["_view_id"] == "image_manual"
    assert portrait["image"] == records[1]["image"]
    assert (portrait["width"], portrait["height"]) == (320, 240)
    assert portrait["spans"] == [stored_box("PERSON", 132, 90, 84, 60)]
    assert (park["answer"], park["spans"]) == ("reject", [])
    assert [event["labels"] for event in project.events("answer.created")] == [
        ["CAR", "TREE"],
        ["PERSON"],
        [],
    ]


def test_image_view_on_a_tablet(project: Project, open_feed: OpenFeed) -> None:
    (project.server.media_dir / "street.png").write_bytes(STREET)
    feed_id = project.feed(
        [{"image": "street.png"}], name="tablet-boxes", interface="image_manual", labels=LABELS
    )
    page = open_feed(feed_id, width=820, height=1180, touch=True)
    expect(page.locator("#task-card .stage-image")).to_have_js_property("complete", True)
    page.locator(".label-choice", has_text="TREE").tap()
    page.keyboard.press("b")
    expect(page.locator("#task-card .box.selected")).to_have_count(1)
    screenshot(page, "image_manual_tablet")
    page.get_by_role("button", name="Accept (a)").tap()
    expect(page.locator("#done-screen")).to_be_visible()
    wait_until_sent(page)
    assert project.export(feed_id)[0]["spans"] == [stored_box("TREE", 450, 338, 300, 225)]
