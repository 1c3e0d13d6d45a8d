"""Database plumbing both planes share: engines, sessions and Alembic upgrades.

Each plane owns its own database and its own migration folder; this module
only knows how to open a URL and bring a schema up to date.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker

logger = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base; each plane subclasses it for its own metadata."""

    __abstract__ = True


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL mode, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}
        )
        event.listen(engine, "connect", _configure_sqlite)
        # Let ``BEGIN IMMEDIATE`` in ``immediate_transaction`` take the write lock.
        event.listen(engine, "begin", _begin_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling is turned off so that SQLAlchemy's
    # "begin" event below decides when a transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _begin_sqlite(connection: Any) -> None:
    # Every transaction takes the write lock up front. Reads then see a stable
    # snapshot and a read-then-write never fails halfway with SQLITE_BUSY.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(url: str, script_location: Path) -> None:
    """Run the plane's Alembic migrations up to head on ``url``."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    logger.info("upgrading database schema in %s", script_location.parent.name)
    command.upgrade(config, "head")
