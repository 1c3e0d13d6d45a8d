"""``concord dataset ...`` and ``concord export`` against real planes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from concord.cli.client import ControlClient

from ..conftest import Cli, assert_ok, unique


@pytest.fixture
def project(cli: Cli) -> str:
    name = unique("data")
    assert_ok(cli("project", "create", name))
    return name


def write_jsonl(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def good_lines(count: int) -> list[bytes]:
    return [json.dumps({"text": f"example number {i}"}).encode() for i in range(count)]


def dataset_row(cli: Cli, project: str, name: str) -> dict:
    result = cli("dataset", "list", project, "--json")
    assert_ok(result)
    rows = [row for row in json.loads(result.stdout) if row["name"] == name]
    assert len(rows) == 1, result.stdout
    return rows[0]


def test_import_creates_missing_dataset(cli: Cli, project: str, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "ok.jsonl", good_lines(5))

    result = cli("dataset", "import", project, "texts", str(source))

    assert_ok(result)
    assert "Created dataset texts" in result.stdout
    assert "Read 5 lines: 5 examples added" in result.stdout
    assert dataset_row(cli, project, "texts")["examples"] == 5


def test_import_twice_adds_nothing(cli: Cli, project: str, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "ok.jsonl", good_lines(3))
    assert_ok(cli("dataset", "import", project, "again", str(source)))

    result = cli("dataset", "import", project, "again", str(source), "--json")

    assert_ok(result)
    summary = json.loads(result.stdout)
    assert summary["examples_added"] == 0
    assert summary["examples_existing"] == 3


def test_import_malformed_line_fails(cli: Cli, project: str, tmp_path: Path) -> None:
    lines = good_lines(5)
    lines[2] = b'{"text": "broken'
    source = write_jsonl(tmp_path / "broken.jsonl", lines)

    result = cli("dataset", "import", project, "broken", str(source))

    assert result.exit_code == 1
    assert "Line 3" in result.stderr
    assert "invalid JSON" in result.stderr
    assert dataset_row(cli, project, "broken")["examples"] == 0


def test_import_non_utf8_line_fails(cli: Cli, project: str, tmp_path: Path) -> None:
    lines = good_lines(4)
    lines[1] = '{"text": "caf\u00e9"}'.encode("latin-1")
    source = write_jsonl(tmp_path / "latin1.jsonl", lines)

    result = cli("dataset", "import", project, "latin1", str(source))

    assert result.exit_code == 1
    assert "Line 2" in result.stderr
    assert "UTF-8" in result.stderr
    assert dataset_row(cli, project, "latin1")["examples"] == 0


def test_import_missing_file_is_usage_error(
    cli: Cli, project: str, tmp_path: Path
) -> None:
    result = cli("dataset", "import", project, "x", str(tmp_path / "absent.jsonl"))

    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_dataset_create_and_list(cli: Cli, project: str) -> None:
    assert_ok(cli("dataset", "create", project, "empty"))

    result = cli("dataset", "list", project)

    assert_ok(result)
    assert "empty" in result.stdout
    assert dataset_row(cli, project, "empty")["examples"] == 0


def test_unknown_project_names_the_fix(cli: Cli) -> None:
    result = cli("dataset", "list", "no-such-project")

    assert result.exit_code == 1
    assert "Project 'no-such-project' not found" in result.stderr
    assert "concord project create no-such-project" in result.stderr


def test_export_dataset_round_trip(cli: Cli, project: str, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "ok.jsonl", good_lines(7))
    assert_ok(cli("dataset", "import", project, "round", str(source)))
    target = tmp_path / "out" / "round.jsonl"

    result = cli("export", project, "--dataset", "round", "-o", str(target))

    assert_ok(result)
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["text"] for r in records] == [f"example number {i}" for i in range(7)]
    assert all(isinstance(r["_task_hash"], int) for r in records)
    assert "Wrote 7 records" in result.stdout
    assert not target.with_name("round.jsonl.partial").exists()


def test_export_needs_one_source(cli: Cli, project: str, tmp_path: Path) -> None:
    result = cli("export", project, "-o", str(tmp_path / "x.jsonl"))

    assert result.exit_code == 1
    assert "exactly one of --dataset, --feed and --gold" in result.stderr


def test_annotator_cannot_import(
    cli: Cli, project: str, admin: ControlClient, tmp_path: Path
) -> None:
    username = unique("ann")
    admin.create_user(username, "annotator-password-1")
    assert_ok(cli("project", "add-member", project, username, "--role", "annotator"))
    assert_ok(cli("dataset", "create", project, "guarded"))
    login_dir = tmp_path / "annotator-login"
    login = Cli(login_dir)(
        "--control-url",
        admin.base_url,
        "login",
        "--username",
        username,
        env={"CONCORD_PASSWORD": "annotator-password-1"},
    )
    assert_ok(login)
    source = write_jsonl(tmp_path / "ok.jsonl", good_lines(2))

    result = Cli(login_dir)("dataset", "import", project, "guarded", str(source))

    assert result.exit_code == 1
    assert result.stderr.strip()
    assert dataset_row(cli, project, "guarded")["examples"] == 0
