"""Fixtures for command line tests: both planes as real servers, and a runner for ``concord``.

The planes start once per test session in a temp data folder on free ports,
through ``start_planes``, the function ``concord up`` uses. Each test creates
the projects and users it needs under names of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from concord.cli.client import ControlClient
from concord.cli.main import app
from concord.cli.supervisor import RunningPlanes, free_port, start_planes

# Cheap password hashing: these servers only ever see test passwords.
TEST_ENV = {"CONCORD_PASSWORD_HASH_FAST": "true"}


@pytest.fixture(scope="session")
def planes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlanes]:
    data_dir = tmp_path_factory.mktemp("cli-planes")
    running = start_planes(
        data_dir, control_port=free_port(), cluster_port=free_port(), env=TEST_ENV
    )
    yield running
    running.stop()


@dataclass
class Cli:
    """Runs ``concord`` in-process against the session's planes."""

    data_dir: Path

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        env: dict[str, str | None] | None = None,
    ) -> Result:
        runner = CliRunner()
        # Wide output keeps Rich tables from truncating ids; the CONCORD_*
        # variables of the outer environment must not leak in.
        base_env: dict[str, str | None] = {
            "COLUMNS": "200",
            "CONCORD_TOKEN": None,
            "CONCORD_CONTROL_URL": None,
            "CONCORD_DATA_DIR": None,
            "CONCORD_PASSWORD": None,
            "CONCORD_USER_PASSWORD": None,
        }
        return runner.invoke(
            app,
            ["--data-dir", str(self.data_dir), *args],
            input=input,
            env={**base_env, **(env or {})},
        )


@pytest.fixture
def cli(planes: RunningPlanes) -> Cli:
    return Cli(planes.data_dir)


@pytest.fixture
def admin(planes: RunningPlanes) -> Iterator[ControlClient]:
    assert planes.credentials is not None
    with ControlClient(planes.control_url, planes.credentials.token) as client:
        yield client


def unique(prefix: str) -> str:
    """Return a name no other test in the session uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, (
        f"concord exited {result.exit_code}\n"
        f"stdout: {result.stdout}\nstderr: {result.stderr}\n{result.exception!r}"
    )
