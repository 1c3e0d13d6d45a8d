"""The saved login file: private mode, round trip and damaged files."""

from __future__ import annotations

import stat
from pathlib import Path

from concord.cli.credentials import (
    SavedLogin,
    forget_login,
    load_login,
    save_login,
    token_path,
)


def test_saved_login_is_private(tmp_path: Path) -> None:
    path = save_login(
        tmp_path / "new", SavedLogin("http://127.0.0.1:8080", "admin", "cct_x")
    )

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_login(tmp_path / "new") == SavedLogin(
        "http://127.0.0.1:8080", "admin", "cct_x"
    )
    assert not path.with_name(path.name + ".partial").exists()


def test_saving_again_replaces(tmp_path: Path) -> None:
    save_login(tmp_path, SavedLogin("http://a", "one", "cct_1"))
    save_login(tmp_path, SavedLogin("http://b", "two", "cct_2"))

    assert load_login(tmp_path) == SavedLogin("http://b", "two", "cct_2")


def test_missing_or_damaged_file_is_none(tmp_path: Path) -> None:
    assert load_login(tmp_path) is None
    token_path(tmp_path).write_text('{"token": ')
    assert load_login(tmp_path) is None
    token_path(tmp_path).write_text('{"token": "cct_1"}')
    assert load_login(tmp_path) is None


def test_forget_login(tmp_path: Path) -> None:
    save_login(tmp_path, SavedLogin("http://a", "one", "cct_1"))

    assert forget_login(tmp_path) is True
    assert forget_login(tmp_path) is False
    assert load_login(tmp_path) is None


def test_repr_hides_token() -> None:
    assert "cct_secret" not in repr(SavedLogin("http://a", "one", "cct_secret"))
