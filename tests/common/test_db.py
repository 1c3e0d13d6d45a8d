"""The SQLite writer queue (FairLock) and the reader engine beside it."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from sqlalchemy import text

from concord.cluster.database import Database
from concord.common.db import FairLock, sqlite_url


def start_waiter(lock: FairLock, order: list[str], name: str, timeout: float) -> threading.Thread:
    def run() -> None:
        if lock.acquire(timeout=timeout):
            order.append(name)
            lock.release()
        else:
            order.append(f"{name} timed out")

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def wait_for_queue(lock: FairLock, length: int) -> None:
    deadline = time.monotonic() + 5
    while len(lock._waiters) < length:  # noqa: SLF001 - the queue is the behaviour under test
        assert time.monotonic() < deadline, f"queue never reached {length} waiters"
        time.sleep(0.001)


def test_waiters_served_in_order() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    order: list[str] = []
    threads = []
    for index in range(5):
        threads.append(start_waiter(lock, order, f"w{index}", timeout=10))
        wait_for_queue(lock, index + 1)
    lock.release()
    for thread in threads:
        thread.join(10)
    assert order == [f"w{index}" for index in range(5)]


def test_timed_out_waiter_leaves_queue() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    order: list[str] = []
    early = start_waiter(lock, order, "early", timeout=0.05)
    wait_for_queue(lock, 1)
    early.join(5)
    late = start_waiter(lock, order, "late", timeout=10)
    wait_for_queue(lock, 1)
    lock.release()
    late.join(5)
    assert order == ["early timed out", "late"]
    assert lock.acquire(timeout=0.1)


def test_release_from_another_thread() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    releaser = threading.Thread(target=lock.release)
    releaser.start()
    releaser.join(5)
    assert lock.acquire(timeout=1)


def test_exclusive_under_timeouts() -> None:
    """Timeouts racing releases never let two threads in, nor lose the lock."""
    lock = FairLock()
    inside = 0
    max_inside = 0
    acquired = 0
    counter = threading.Lock()

    def run(seed: int) -> None:
        nonlocal inside, max_inside, acquired
        chooser = random.Random(seed)
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            if not lock.acquire(timeout=chooser.choice([0.0001, 0.001, 0.01])):
                continue
            with counter:
                inside += 1
                max_inside = max(max_inside, inside)
                acquired += 1
            time.sleep(chooser.choice([0, 0.0005]))
            with counter:
                inside -= 1
            lock.release()

    threads = [threading.Thread(target=run, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert max_inside == 1
    assert acquired > 0
    assert lock.acquire(timeout=0.1)


def test_reader_not_blocked_by_writer(tmp_path: Path) -> None:
    """A read through ``reads`` runs beside an open write and sees only committed rows."""
    database = Database(sqlite_url(tmp_path / "c.db"))
    try:
        with database.transaction() as session:
            session.execute(text("CREATE TABLE t (value INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        writing = threading.Event()
        finish = threading.Event()

        def write() -> None:
            with database.transaction() as session:
                session.execute(text("INSERT INTO t VALUES (2)"))
                writing.set()
                finish.wait(10)

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        assert writing.wait(10)
        started = time.monotonic()
        with database.reads() as session:
            values = list(session.scalars(text("SELECT value FROM t ORDER BY value")))
        waited = time.monotonic() - started
        finish.set()
        writer.join(10)
    finally:
        database.dispose()
    assert values == [1]
    assert waited < 1.0
