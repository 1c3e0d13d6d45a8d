from __future__ import annotations

from pathlib import Path

import pytest

from concord.common.permissions import (
    LEVEL_DESCRIPTIONS,
    RULES,
    MissingPermission,
    render_markdown,
    required_level,
    role_meets,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_doc_matches_table() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/permissions.md is out of date: run "
        "'python -m concord.common.permissions > docs/permissions.md'"
    )


def test_rules_unique() -> None:
    keys = [(rule.plane, rule.method, rule.path) for rule in RULES]

    assert len(keys) == len(set(keys))


def test_every_level_described() -> None:
    assert {rule.level for rule in RULES} <= set(LEVEL_DESCRIPTIONS)


def test_lookup_and_head() -> None:
    assert required_level("control", "GET", "/api/audit") == "admin"
    assert required_level("control", "HEAD", "/api/health") == "public"
    assert required_level("cluster", "POST", "/api/gold") == "reviewer"


def test_unlisted_route_raises() -> None:
    with pytest.raises(MissingPermission, match="POST /api/nothing on the control"):
        required_level("control", "POST", "/api/nothing")


@pytest.mark.parametrize(
    ("role", "level", "expected"),
    [
        ("annotator", "reviewer", False),
        ("reviewer", "reviewer", True),
        ("manager", "reviewer", True),
        ("reviewer", "manager", False),
        ("manager", "manager", True),
    ],
)
def test_role_meets(role: str, level: str, expected: bool) -> None:
    assert role_meets(role, level) is expected  # type: ignore[arg-type]
