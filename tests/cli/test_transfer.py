"""Streamed exports: a failed export leaves no file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from concord.cli.client import ApiError, ControlClient
from concord.cli.context import ProjectAccess
from concord.cli.transfer import export_to_file

from .conftest import unique


def test_failed_export_writes_nothing(admin: ControlClient, tmp_path: Path) -> None:
    project = admin.create_project(unique("export"))
    target = tmp_path / "out.jsonl"

    with (
        ProjectAccess.open(admin, project) as access,
        pytest.raises(ApiError) as caught,
    ):
        export_to_file(access.cluster, "dataset", "0" * 32, target, Console(quiet=True))

    assert caught.value.status == 404
    assert list(tmp_path.iterdir()) == []
