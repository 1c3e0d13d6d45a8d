"""The control plane's database: opening it, migrating it, and request sessions.

Request handlers get a session from ``get_session``. The plain functions they
call commit their own work, so a handler that fails before a commit leaves
nothing behind.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from concord.common.db import make_engine, make_sessionmaker, upgrade

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


@dataclass
class Database:
    engine: Engine
    sessions: sessionmaker[Session]

    def close(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    """Bring the schema at ``url`` up to date and return an engine and sessions."""
    upgrade(url, MIGRATIONS_DIR)
    engine = make_engine(url)
    return Database(engine=engine, sessions=make_sessionmaker(engine))


def get_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: a session that is closed (and rolled back) after use."""
    database: Database = request.app.state.database
    with database.sessions() as session:
        yield session
