"""The cluster's migrations build exactly the tables its models declare."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, select, text

from concord.cluster import slots
from concord.cluster.database import MIGRATIONS, Database
from concord.cluster.models import ClusterBase, Feed, FeedSlot
from concord.common.db import sqlite_url
from tests.conftest import DatabaseFactory


def test_migrations_match_models(tmp_path: Path) -> None:
    database = Database(sqlite_url(tmp_path / "cluster.db"))
    database.migrate()
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        differences = compare_metadata(context, ClusterBase.metadata)
    database.dispose()

    assert differences == []


def test_slot_migration_counts_existing_answers_and_leases(
    tmp_path: Path, test_databases: DatabaseFactory
) -> None:
    """Revision 0004 fills the claim counters of feeds that already have work."""
    server = test_databases.server
    url = server.create_database() if server is not None else sqlite_url(tmp_path / "c.db")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    command.upgrade(config, "0003")
    engine = create_engine(url)
    now = datetime.now(timezone.utc)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO datasets (id, project_id, name, role, created_at) "
                "VALUES ('d', 'p', 'source', 'source', :now)"
            ),
            {"now": now},
        )
        for index in range(1, 5):
            connection.execute(
                text(
                    "INSERT INTO examples (id, dataset_id, position, input_hash, task_hash, task) "
                    "VALUES (:id, 'd', :id, :id, :hash, '{}')"
                ),
                {"id": index, "hash": index * 7919},
            )
        for feed, mode, fraction in (("f-number", "number", 0.0), ("f-partial", "partial", 0.5)):
            connection.execute(
                text(
                    "INSERT INTO feeds (id, project_id, dataset_id, name, interface, labels, "
                    "options, multiple, overlap, lease_seconds, instructions, created_at, "
                    "overlap_mode, partial_fraction) VALUES (:id, 'p', 'd', :id, 'binary', "
                    "'[]', '[]', false, 2, 600, '', :now, :mode, :fraction)"
                ),
                {"id": feed, "now": now, "mode": mode, "fraction": fraction},
            )
        for example_id, user in ((1, "a"), (1, "b"), (2, "a")):
            connection.execute(
                text(
                    "INSERT INTO annotations (id, dataset_id, example_id, feed_id, annotator_id, "
                    "annotator_name, answer_id, answer, labels, record, timestamp, created_at) "
                    "VALUES (:id, 'd', :example, 'f-number', :user, :user, :id, 'accept', "
                    "'[]', '{}', 0, :now)"
                ),
                {"id": f"{example_id}{user}", "example": example_id, "user": user, "now": now},
            )
        connection.execute(
            text(
                "INSERT INTO leases (feed_id, example_id, annotator_id, expires_at) "
                "VALUES ('f-number', 2, 'c', :now), ('f-partial', 3, 'a', :now)"
            ),
            {"now": now},
        )
    engine.dispose()

    command.upgrade(config, "head")

    database = Database(url)
    try:
        with database.sessions() as session:
            rows = {
                (row.feed_id, row.example_id): (row.needed, row.answers, row.leases, row.free)
                for row in session.scalars(select(FeedSlot))
            }
            for feed_id in ("f-number", "f-partial"):
                assert slots.drift(session, feed_id) == []
            partial = session.get(Feed, "f-partial")
            assert partial is not None
            needed = {i: slots.example_overlap(partial, i * 7919) for i in range(1, 5)}
    finally:
        database.dispose()
    assert rows[("f-number", 1)] == (2, 2, 0, 0)
    assert rows[("f-number", 2)] == (2, 1, 1, 0)
    assert rows[("f-number", 3)] == (2, 0, 0, 2)
    assert rows[("f-partial", 3)] == (needed[3], 0, 1, needed[3] - 1)
    assert {rows[("f-partial", i)][0] for i in range(1, 5)} == set(needed.values())
    assert len(rows) == 8
