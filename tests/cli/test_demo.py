"""The demo's folder handling; the whole demo runs in tests/e2e/test_demo.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from concord.cli.demo import (
    MARKER_FILE,
    DemoError,
    DemoOptions,
    prepare_data_dir,
    run_demo,
)


def test_new_folder_gets_marker(tmp_path: Path) -> None:
    folder = tmp_path / "demo"

    prepare_data_dir(folder)

    assert (folder / MARKER_FILE).is_file()


def test_marked_folder_is_wiped(tmp_path: Path) -> None:
    prepare_data_dir(tmp_path / "demo")
    (tmp_path / "demo" / "old.db").write_text("old")

    prepare_data_dir(tmp_path / "demo")

    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [MARKER_FILE]


def test_foreign_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")

    with pytest.raises(DemoError, match="was not created by `concord demo`"):
        prepare_data_dir(tmp_path)

    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_empty_folder_is_used(tmp_path: Path) -> None:
    prepare_data_dir(tmp_path)

    assert (tmp_path / MARKER_FILE).is_file()


def test_file_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")

    with pytest.raises(DemoError, match="is a file"):
        prepare_data_dir(target)


def test_missing_demo_data_is_reported(tmp_path: Path) -> None:
    options = DemoOptions(data_dir=tmp_path / "demo", source_dir=tmp_path / "nothing")

    with pytest.raises(DemoError, match="pydata-ams-2023.jsonl is missing"):
        run_demo(options, Console(quiet=True))

    assert not (tmp_path / "demo").exists()
