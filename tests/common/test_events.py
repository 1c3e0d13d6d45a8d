"""The event schema names every interface a cluster feed can use."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from concord.common.events import FeedCreated, Interface

FEED = {
    "event_id": "e1",
    "cluster_id": "c1",
    "project_id": "p1",
    "created_at": "2026-01-01T00:00:00Z",
    "feed_id": "f1",
    "dataset_id": "d1",
    "name": "feed",
    "labels": [],
    "multiple": False,
    "overlap": 1,
    "lease_seconds": 60,
    "examples_total": 0,
}


def test_interfaces_listed() -> None:
    assert set(get_args(Interface)) == {
        "binary", "choice", "ner_manual", "spans_manual", "text_input", "image_manual", "review",
    }


@pytest.mark.parametrize("interface", get_args(Interface))
def test_feed_created_accepts_interface(interface: str) -> None:
    assert FeedCreated(**FEED, interface=interface).interface == interface


def test_feed_created_rejects_unknown_interface() -> None:
    with pytest.raises(ValidationError):
        FeedCreated(**FEED, interface="audio_manual")
