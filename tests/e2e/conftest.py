"""Fixtures for end-to-end tests: both planes as real uvicorn servers on 127.0.0.1.

The planes run as child processes started by ``start_planes``, the code path of
``concord up``, in a temp data folder on free ports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from concord.cli.client import ControlClient
from concord.cli.supervisor import RunningPlanes, free_port, start_planes
from tests.conftest import DatabaseFactory

T = TypeVar("T")


def database_env(test_databases: DatabaseFactory) -> dict[str, str]:
    """Environment variables that point both planes at fresh test databases."""
    env: dict[str, str] = {}
    cluster_url, control_url = test_databases.cluster(), test_databases.control()
    if cluster_url is not None:
        env["CONCORD_CLUSTER_DATABASE_URL"] = cluster_url
    if control_url is not None:
        env["CONCORD_CONTROL_DATABASE_URL"] = control_url
    return env

# Cheap password hashing: these servers only ever see test passwords.
TEST_ENV = {"CONCORD_PASSWORD_HASH_FAST": "true"}


@pytest.fixture(scope="module")
def planes(
    tmp_path_factory: pytest.TempPathFactory, test_databases: DatabaseFactory
) -> Iterator[RunningPlanes]:
    data_dir = tmp_path_factory.mktemp("e2e-planes")
    running = start_planes(
        data_dir,
        control_port=free_port(),
        cluster_port=free_port(),
        env={**TEST_ENV, **database_env(test_databases)},
    )
    yield running
    running.stop()


@pytest.fixture
def admin(planes: RunningPlanes) -> Iterator[ControlClient]:
    assert planes.credentials is not None
    with ControlClient(planes.control_url, planes.credentials.token) as client:
        yield client


def poll(fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 30.0) -> T:
    """Call ``fetch`` until ``done`` returns True or ``timeout`` seconds pass.

    Returns the last value fetched.

    The control plane learns about answers from events the cluster sends in
    the background, so its numbers settle a moment after the cluster's.
    """
    deadline = time.monotonic() + timeout
    value = fetch()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = fetch()
    return value
