"""``concord project ...`` against real planes."""

from __future__ import annotations

import json

from concord.cli.client import ControlClient

from ..conftest import Cli, assert_ok, unique


def test_project_create_and_list(cli: Cli) -> None:
    name = unique("proj")

    created = cli("project", "create", name)
    listed = cli("project", "list", "--json")

    assert_ok(created)
    assert f"Created project {name}" in created.stdout
    assert_ok(listed)
    projects = {project["name"]: project for project in json.loads(listed.stdout)}
    assert projects[name]["role"] == "manager"
    assert projects[name]["cluster_url"].startswith("http://127.0.0.1:")


def test_add_member_by_project_id(cli: Cli, admin: ControlClient) -> None:
    name = unique("team")
    project = admin.create_project(name)
    username = unique("member")
    admin.create_user(username, "member-password-1")

    result = cli("project", "add-member", project.id, username, "--role", "reviewer")

    assert_ok(result)
    assert f"{username} is now reviewer in project {name}" in result.stdout
    members = {m["username"]: m["role"] for m in admin.list_members(project.id)}
    assert members[username] == "reviewer"


def test_add_member_rejects_unknown_role(cli: Cli) -> None:
    result = cli("project", "add-member", "any", "someone", "--role", "owner")

    assert result.exit_code == 2
    assert "owner" in result.stderr


def test_add_unknown_user_shows_server_message(cli: Cli, admin: ControlClient) -> None:
    project = admin.create_project(unique("lonely"))

    result = cli("project", "add-member", project.name, "nobody-at-all")

    assert result.exit_code == 1
    assert "nobody-at-all" in result.stderr
