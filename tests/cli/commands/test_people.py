"""``concord login`` and ``concord user ...`` against real planes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from concord.cli.credentials import load_login, token_path
from concord.cli.supervisor import RunningPlanes

from ..conftest import Cli, assert_ok, unique


def test_user_create_from_env_password(cli: Cli) -> None:
    username = unique("env")

    result = cli(
        "user", "create", username, env={"CONCORD_USER_PASSWORD": "from-env-password-1"}
    )

    assert_ok(result)
    assert f"Created user {username}" in result.stdout
    listed = cli("user", "list", "--json")
    assert_ok(listed)
    users = {user["username"]: user for user in json.loads(listed.stdout)}
    assert users[username]["is_admin"] is False


def test_user_create_prompts_twice(cli: Cli) -> None:
    username = unique("prompt")

    result = cli(
        "user",
        "create",
        username,
        "--admin",
        input="typed-password-1\ntyped-password-1\n",
    )

    assert_ok(result)
    assert f"Created admin {username}" in result.stdout


def test_login_saves_private_token(
    cli: Cli, planes: RunningPlanes, tmp_path: Path
) -> None:
    username = unique("login")
    assert_ok(cli("user", "create", username, "--password", "login-password-1"))
    folder = tmp_path / "other-machine"

    result = Cli(folder)(
        "--control-url",
        planes.control_url,
        "login",
        "--username",
        username,
        input="login-password-1\n",
    )

    assert_ok(result)
    saved = load_login(folder)
    assert saved is not None
    assert saved.username == username
    assert saved.control_url == planes.control_url
    assert saved.token.startswith("cct_")
    assert stat.S_IMODE(token_path(folder).stat().st_mode) == 0o600
    assert saved.token not in result.stdout


def test_login_wrong_password_fails(
    cli: Cli, planes: RunningPlanes, tmp_path: Path
) -> None:
    folder = tmp_path / "wrong"

    result = Cli(folder)(
        "--control-url",
        planes.control_url,
        "login",
        "--username",
        "admin",
        env={"CONCORD_PASSWORD": "not-the-password"},
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("Error:")
    assert not token_path(folder).exists()


def test_saved_login_lets_user_list_projects(
    cli: Cli, planes: RunningPlanes, tmp_path: Path
) -> None:
    username = unique("plain")
    assert_ok(cli("user", "create", username, "--password", "plain-password-1"))
    folder = tmp_path / "plain"
    assert_ok(
        Cli(folder)(
            "--control-url",
            planes.control_url,
            "login",
            "--username",
            username,
            env={"CONCORD_PASSWORD": "plain-password-1"},
        )
    )

    listed = Cli(folder)("project", "list", "--json")
    forbidden = Cli(folder)("user", "list")

    assert_ok(listed)
    assert json.loads(listed.stdout) == []
    assert forbidden.exit_code == 1


def test_no_token_explains_login(tmp_path: Path) -> None:
    result = Cli(tmp_path / "empty")("project", "list")

    assert result.exit_code == 1
    assert "concord login" in result.stderr
    assert "cli-token.json" in result.stderr


def test_token_option_overrides_file(
    cli: Cli, planes: RunningPlanes, tmp_path: Path
) -> None:
    assert planes.credentials is not None

    result = Cli(tmp_path / "none")(
        "--control-url",
        planes.control_url,
        "project",
        "list",
        env={"CONCORD_TOKEN": planes.credentials.token},
    )
    rejected = Cli(tmp_path / "none")(
        "--control-url", planes.control_url, "--token", "cct_invalid", "project", "list"
    )

    assert_ok(result)
    assert rejected.exit_code == 1
    assert "concord login" in rejected.stderr
