"""Transaction locks on PostgreSQL: one outbox sender at a time, claims in turn."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy.orm import Session

from concord.cluster.database import Database
from concord.cluster.locks import lock_feed_claims, try_lock_outbox
from tests.postgres import PostgresServer


def test_outbox_lock_one_sender(postgres_server: PostgresServer) -> None:
    database = Database(postgres_server.create_database())
    try:
        with database.transaction() as first:
            assert try_lock_outbox(first)
            with database.transaction() as second:
                assert not try_lock_outbox(second)
        with database.transaction() as later:
            assert try_lock_outbox(later)
    finally:
        database.dispose()


def test_feed_claims_wait_for_commit(postgres_server: PostgresServer) -> None:
    database = Database(postgres_server.create_database())
    waited: list[float] = []

    def claim_second() -> None:
        started = time.monotonic()
        with database.transaction() as session:
            lock_feed_claims(session, "feed-1")
        waited.append(time.monotonic() - started)

    try:
        with database.transaction() as first:
            lock_feed_claims(first, "feed-1")
            thread = threading.Thread(target=claim_second)
            thread.start()
            time.sleep(0.5)
            assert waited == []
        thread.join(10)
        assert len(waited) == 1
        assert waited[0] >= 0.4
    finally:
        database.dispose()


def test_locks_do_nothing_on_sqlite(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'cluster.db'}")
    try:
        with Session(database.engine) as first, Session(database.engine) as second:
            assert try_lock_outbox(first)
            assert try_lock_outbox(second)
    finally:
        database.dispose()
