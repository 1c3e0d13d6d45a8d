"""Finding objects by name or id, and the messages of a miss."""

from __future__ import annotations

import pytest

from concord.cli.lookup import LookupFailed, find_in

ITEMS = [
    {"id": "a1", "name": "alpha"},
    {"id": "b2", "name": "beta"},
    {"id": "b3", "name": "beta"},
    {"id": "alpha", "name": "gamma"},
]


def test_id_wins_over_name() -> None:
    assert find_in(ITEMS, "alpha", "feed", "")["name"] == "gamma"


def test_unique_name_matches() -> None:
    assert find_in(ITEMS, "gamma", "feed", "")["id"] == "alpha"


def test_ambiguous_name_asks_for_id() -> None:
    with pytest.raises(
        LookupFailed, match=r"Several feeds are named 'beta' \(b2, b3\)"
    ):
        find_in(ITEMS, "beta", "feed", "")


def test_miss_lists_names_and_hint() -> None:
    with pytest.raises(LookupFailed) as caught:
        find_in(ITEMS, "delta", "dataset", "Create it with X.")

    message = str(caught.value)
    assert message.startswith("Dataset 'delta' not found")
    assert "alpha, beta, beta, gamma" in message
    assert message.endswith("Create it with X.")


def test_miss_in_empty_listing() -> None:
    with pytest.raises(LookupFailed, match="there are none yet"):
        find_in([], "x", "feed", "")
