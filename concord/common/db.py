"""Database plumbing both planes share: engines, sessions and Alembic upgrades.

Each plane owns its own database and its own migration folder; this module
only knows how to open a URL and bring a schema up to date.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, sessionmaker

logger = logging.getLogger(__name__)

# The same wait as SQLite's busy timeout below, for the in-process writer lock.
BUSY_TIMEOUT_SECONDS = 30


class Base(DeclarativeBase):
    """Declarative base; each plane subclasses it for its own metadata."""

    __abstract__ = True


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


# Task and annotation records can be large: a long text with its tokens is
# hundreds of kilobytes of JSON. orjson encodes and decodes them faster than
# the standard library's json module.
JSON_CODEC = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


# libpq's TCP settings: a connection whose server stopped answering (a cut
# link, a crashed host) fails within about half a minute instead of the
# kernel's default of over two hours, so the request ends with 503 and the
# pool opens a new connection.
POSTGRESQL_CONNECT_ARGS = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def make_engine(url: str, *, reader: bool = False) -> Engine:
    """Create an engine; SQLite gets WAL mode, foreign keys and a busy timeout.

    A SQLite ``reader`` engine starts plain deferred transactions, which read a
    snapshot beside a writer instead of queueing for the write lock. Use it
    only for work that writes nothing.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **JSON_CODEC
        )
        event.listen(engine, "connect", _configure_sqlite)
        if reader:
            event.listen(engine, "begin", _begin_deferred)
            return engine
        # Let ``BEGIN IMMEDIATE`` in ``immediate_transaction`` take the write lock.
        writer = WriterLock()
        event.listen(engine, "begin", writer.begin)
        event.listen(engine, "commit", writer.commit)
        event.listen(engine, "rollback", writer.rollback)
        return engine
    return create_engine(
        url, pool_pre_ping=True, connect_args=POSTGRESQL_CONNECT_ARGS, **JSON_CODEC
    )


def _begin_deferred(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


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


class FairLock:
    """A lock that waiting threads get in the order they asked for it.

    ``threading.Lock`` wakes an arbitrary waiter, so under load some requests
    wait for many transactions in a row while others go first. Handing the
    lock to the oldest waiter bounds the wait to the queue ahead of it. Any
    thread may release it.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: collections.deque[threading.Lock] = collections.deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True
        with self._mutex:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
                return False
        # ``release`` handed the lock over just as the wait timed out.
        return True

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                # The lock passes straight to the oldest waiter and stays held.
                self._waiters.popleft().release()
            else:
                self._held = False


class WriterLock:
    """Queues this process's SQLite transactions on a lock instead of SQLite's busy wait.

    Every transaction takes the write lock up front (``BEGIN IMMEDIATE``), so
    reads see a stable snapshot and a read-then-write never fails halfway with
    SQLITE_BUSY. SQLite's busy handler waits for a held write lock by sleeping
    in growing steps, which leaves the database idle between transactions under
    load; threads of one process wait on this lock instead and start the moment
    the previous transaction ends. Other processes still meet the busy timeout.
    """

    def __init__(self) -> None:
        # Not bound to a thread, because FastAPI may end a transaction on
        # another thread of its pool than the one that began it.
        self._lock = FairLock()

    def begin(self, connection: Any) -> None:
        if not self._lock.acquire(timeout=BUSY_TIMEOUT_SECONDS):
            raise TimeoutError(
                f"waited {BUSY_TIMEOUT_SECONDS} s for the SQLite write lock; "
                "another transaction of this process did not end"
            )
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise

    def commit(self, connection: Any) -> None:
        # The event fires before SQLAlchemy's own commit, which is a no-op once
        # the transaction is committed here; the lock is released only after.
        self._end(connection, "COMMIT")

    def rollback(self, connection: Any) -> None:
        self._end(connection, "ROLLBACK")

    def _end(self, connection: Any, statement: str) -> None:
        try:
            dbapi_connection = connection.connection.dbapi_connection
            if dbapi_connection is not None and dbapi_connection.in_transaction:
                dbapi_connection.execute(statement)
        finally:
            self._lock.release()


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
