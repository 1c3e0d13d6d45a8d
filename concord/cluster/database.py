"""The cluster's database handle: engine, session factory and migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from concord.common.db import make_engine, make_sessionmaker, upgrade

MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        # Background reads that must not wait for, or hold up, the writers.
        self.reader: Engine = (
            make_engine(url, reader=True) if url.startswith("sqlite") else self.engine
        )
        self.reads: sessionmaker[Session] = make_sessionmaker(self.reader)

    def migrate(self) -> None:
        upgrade(self.url, MIGRATIONS)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        self.reader.dispose()
