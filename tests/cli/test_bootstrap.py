"""Choosing the first admin's password and logging the command line in."""

from __future__ import annotations

from pathlib import Path

from concord.cli.bootstrap import (
    AdminPassword,
    bootstrap_credentials,
    choose_admin_password,
)
from concord.cli.credentials import SavedLogin, load_login, save_login
from concord.cli.supervisor import RunningPlanes


def test_new_folder_gets_generated_password(tmp_path: Path) -> None:
    first = choose_admin_password(tmp_path, {})
    second = choose_admin_password(tmp_path, {})

    assert first is not None and second is not None
    assert first.generated is True
    assert len(first.value) >= 20
    assert first.value != second.value
    assert first.value not in repr(first)


def test_environment_password_is_used(tmp_path: Path) -> None:
    chosen = choose_admin_password(tmp_path, {"CONCORD_ADMIN_PASSWORD": "given-pass"})

    assert chosen == AdminPassword("given-pass", generated=False)


def test_saved_login_means_no_password(tmp_path: Path) -> None:
    save_login(tmp_path, SavedLogin("http://127.0.0.1:1", "admin", "cct_x"))

    assert choose_admin_password(tmp_path, {"CONCORD_ADMIN_PASSWORD": "p"}) is None


def admin_password(planes: RunningPlanes) -> str:
    assert planes.credentials is not None
    assert planes.credentials.generated_password is not None
    return planes.credentials.generated_password


def test_known_password_logs_in(planes: RunningPlanes, tmp_path: Path) -> None:
    known = AdminPassword(admin_password(planes), generated=False)

    credentials = bootstrap_credentials(tmp_path, planes.control_url, known)

    assert credentials is not None
    assert credentials.username == "admin"
    assert credentials.generated_password is None
    saved = load_login(tmp_path)
    assert saved is not None
    assert saved.token == credentials.token


def test_wrong_password_gives_none(planes: RunningPlanes, tmp_path: Path) -> None:
    wrong = AdminPassword("not-the-admin-password", generated=True)

    assert bootstrap_credentials(tmp_path, planes.control_url, wrong) is None
    assert load_login(tmp_path) is None


def test_rejected_saved_login_falls_back(planes: RunningPlanes, tmp_path: Path) -> None:
    save_login(tmp_path, SavedLogin(planes.control_url, "admin", "cct_revoked"))
    known = AdminPassword(admin_password(planes), generated=False)

    credentials = bootstrap_credentials(tmp_path, planes.control_url, known)

    assert credentials is not None
    assert credentials.token != "cct_revoked"
    assert load_login(tmp_path).token == credentials.token  # type: ignore[union-attr]
