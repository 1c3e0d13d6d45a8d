"""Malformed JSONL over HTTP: the error names the line and nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from concord.cli.client import ApiError, ControlClient
from concord.cli.context import ProjectAccess
from concord.cli.supervisor import RunningPlanes

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def manager(planes: RunningPlanes) -> Iterator[ProjectAccess]:
    assert planes.credentials is not None
    control = ControlClient(planes.control_url, planes.credentials.token)
    project = control.create_project("import-errors")
    with ProjectAccess.open(control, project, owns_control=True) as access:
        yield access


def import_lines(
    manager: ProjectAccess, name: str, lines: list[bytes]
) -> tuple[ApiError, int]:
    """Import ``lines`` into a new dataset; return the error and the examples stored."""
    dataset = manager.cluster.create_dataset(name)
    # Small chunks make the body arrive in many pieces, as a streamed file does.
    body = b"\n".join(lines) + b"\n"
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    with pytest.raises(ApiError) as caught:
        manager.cluster.import_jsonl(dataset["id"], iter(chunks))
    return caught.value, manager.cluster.get_dataset(dataset["id"])["examples"]


def raw_titles(shared_data: Path) -> list[bytes]:
    path = (
        shared_data
        / "prodigy-textcat-binary-github-docs"
        / "raw_github-issue-titles.jsonl"
    )
    return path.read_bytes().splitlines()


def test_broken_line_three(manager: ProjectAccess, shared_data: Path) -> None:
    lines = raw_titles(shared_data)[:10]
    lines[2] = lines[2][:-5]

    error, examples = import_lines(manager, "line-three", lines)

    assert error.status == 422
    assert error.code == "invalid_input"
    assert str(error).startswith("Line 3: invalid JSON")
    assert error.details["line"] == 3
    assert examples == 0


def test_non_utf8_line(manager: ProjectAccess, shared_data: Path) -> None:
    lines = raw_titles(shared_data)[:10]
    lines[5] = '{"text": "na\u00efve caf\u00e9"}'.encode("latin-1")

    error, examples = import_lines(manager, "latin-1", lines)

    assert str(error).startswith("Line 6: not valid UTF-8")
    assert examples == 0


def test_error_late_in_real_file_stores_nothing(
    manager: ProjectAccess, shared_data: Path
) -> None:
    lines = raw_titles(shared_data)
    lines[799] = b'{"no_text_key": true}'

    error, examples = import_lines(manager, "late-error", lines)

    assert str(error).startswith("Line 800:")
    assert examples == 0


def test_fixed_file_imports_after_failure(
    manager: ProjectAccess, shared_data: Path
) -> None:
    lines = raw_titles(shared_data)
    broken = list(lines)
    broken[2] = b"{"
    _, before = import_lines(manager, "retry", broken)
    dataset = next(d for d in manager.cluster.list_datasets() if d["name"] == "retry")

    result = manager.cluster.import_jsonl(dataset["id"], [b"\n".join(lines) + b"\n"])

    assert before == 0
    assert result["examples_added"] == len(lines)
    assert manager.cluster.get_dataset(dataset["id"])["examples"] == len(lines)
