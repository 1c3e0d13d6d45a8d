"""The annotation interfaces a feed can use, and what each one reads and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from concord.cluster.models import Feed
from concord.common.events import Interface

INTERFACES: tuple[str, ...] = get_args(Interface)
# Interfaces whose answers a review feed can show, pick from and store.
ReviewedInterface = Literal[
    "binary", "choice", "ner_manual", "spans_manual", "text_input", "image_manual"
]
REVIEWED_INTERFACES: tuple[str, ...] = get_args(ReviewedInterface)
# Prodigy's ``_view_id`` for each interface, stored on every answer.
VIEW_IDS = {
    "binary": "classification",
    "choice": "choice",
    "ner_manual": "ner_manual",
    "spans_manual": "spans_manual",
    "text_input": "text_input",
    "image_manual": "image_manual",
    "review": "review",
}
INTERFACES_BY_VIEW = {view: interface for interface, view in VIEW_IDS.items()}
# Interfaces that annotate token-snapped spans of the text.
TEXT_SPAN_INTERFACES = ("ner_manual", "spans_manual")
# The answer fields each interface takes, besides ``answer`` itself.
ANSWER_FIELDS: dict[str, tuple[str, ...]] = {
    "binary": (),
    "choice": ("accept",),
    "ner_manual": ("spans",),
    "spans_manual": ("spans",),
    "text_input": ("user_input",),
    "image_manual": ("spans",),
}

# Text input: the longest answer any feed accepts, and the defaults of a feed.
USER_INPUT_LIMIT = 100_000
DEFAULT_MAX_LENGTH = 10_000
DEFAULT_FIELD_LABEL = "Your answer"


@dataclass
class InterfaceSettings:
    """Settings of a new feed, resolved from its spec: its data, labels and fields."""

    dataset_id: str
    labels: list[str]
    label: str | None = None
    options: list[dict[str, Any]] = field(default_factory=list)
    multiple: bool = False
    field_label: str | None = None
    max_length: int | None = None
    source_feed_id: str | None = None
    reviewed_interface: str | None = None


def shown_interface(feed: Feed) -> str:
    """Return the interface whose content the feed's tasks show (for a review, the reviewed one)."""
    if feed.interface == "review" and feed.reviewed_interface:
        return feed.reviewed_interface
    return feed.interface
