"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from concord.cluster.database import MIGRATIONS as CLUSTER_MIGRATIONS
from concord.common.db import upgrade
from concord.control.database import MIGRATIONS_DIR as CONTROL_MIGRATIONS
from tests.postgres import PostgresServer

# The real data sets live in a shared/ folder beside the repository clone,
# on developer machines and in CI alike.
DEFAULT_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return the folder of real data sets; CONCORD_SHARED_DATA overrides it."""
    override = os.environ.get("CONCORD_SHARED_DATA")
    folder = Path(override) if override else DEFAULT_SHARED_DATA
    if not folder.is_dir():
        pytest.fail(
            f"Shared data folder {folder} not found. Put a copy of shared/ beside "
            "the repository, or set CONCORD_SHARED_DATA to its data folder."
        )
    return folder


# The database the cluster and control fixtures use: "sqlite" (the default) or
# "postgresql", which starts a throwaway PostgreSQL server for the session.
TEST_DATABASE = os.environ.get("CONCORD_TEST_DATABASE", "sqlite")


class DatabaseFactory:
    """Hands out a fresh database URL per plane, or None for the plane's SQLite file."""

    def __init__(self, server: PostgresServer | None) -> None:
        self.server = server
        self.created: list[str] = []

    def cluster(self) -> str | None:
        return self._fresh("cluster", CLUSTER_MIGRATIONS)

    def control(self) -> str | None:
        return self._fresh("control", CONTROL_MIGRATIONS)

    def _fresh(self, plane: str, migrations: Path) -> str | None:
        if self.server is None:
            return None
        url = self.server.create_database(
            template=plane, prepare=lambda target: upgrade(target, migrations)
        )
        self.created.append(url)
        return url


@pytest.fixture(scope="session")
def test_databases() -> Iterator[DatabaseFactory]:
    if TEST_DATABASE == "sqlite":
        yield DatabaseFactory(None)
        return
    if TEST_DATABASE != "postgresql":
        pytest.fail(
            f"CONCORD_TEST_DATABASE={TEST_DATABASE!r} is not supported; "
            "use 'sqlite' or 'postgresql'."
        )
    server = PostgresServer.start()
    try:
        yield DatabaseFactory(server)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def drop_test_databases(test_databases: DatabaseFactory) -> Iterator[None]:
    """Drop the PostgreSQL databases a test created, so disk use stays flat."""
    before = len(test_databases.created)
    yield
    if test_databases.server is None:
        return
    for url in test_databases.created[before:]:
        test_databases.server.drop_database(url)
    del test_databases.created[before:]


@pytest.fixture(scope="session")
def postgres_server(test_databases: DatabaseFactory) -> Iterator[PostgresServer]:
    """A PostgreSQL server for tests that need one whatever CONCORD_TEST_DATABASE says."""
    if test_databases.server is not None:
        yield test_databases.server
        return
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()
