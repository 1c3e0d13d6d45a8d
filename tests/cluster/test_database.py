"""The cluster's migrations build exactly the tables its models declare."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from concord.cluster.database import Database
from concord.cluster.models import ClusterBase
from concord.common.db import sqlite_url


def test_migrations_match_models(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "cluster.db"))
    database.migrate()
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, ClusterBase.metadata)
    database.dispose()

    assert differences == []
