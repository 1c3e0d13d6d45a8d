"""The cluster's migrations build exactly the tables its models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from concord.cluster.database import Database
from concord.cluster.models import ClusterBase
from concord.common.db import sqlite_url


def test_migrations_match_models(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "cluster.db")
    database = Database(url)
    database.migrate()
    database.dispose()
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), ClusterBase.metadata)
    engine.dispose()

    assert differences == []
