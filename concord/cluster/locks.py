"""Transaction locks that make claims and answers exact across replicas.

On SQLite every write transaction already holds the database's one write lock
from its first statement (``BEGIN IMMEDIATE``), so these functions do nothing
there. On PostgreSQL several replicas write at once under READ COMMITTED:

- ``lock_feed_claims`` takes a transaction-scoped advisory lock per feed, so
  claims on one feed run one after another and each one counts the leases and
  answers the previous claims committed. Row locks alone (``FOR UPDATE SKIP
  LOCKED``) would not be enough: a claim whose snapshot predates another
  claim's commit could still lock and lease an example that the other claim
  just filled up.
- ``lock_answers`` serializes the answers of one annotator in one feed, so a
  retry of the same answer sent to two replicas at once is stored once and
  reported as a duplicate the second time, instead of failing on the unique
  constraint.

Advisory transaction locks are released at commit or rollback, so nothing is
held while a person works on a task.
"""

from __future__ import annotations

import hashlib
import logging

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

# Distinguishes the lock spaces, so a feed lock and an answer lock never collide.
CLAIMS = "claims"
ANSWERS = "answers"
OUTBOX = "outbox"
SLOTS = "slots"


def lock_key(*parts: str) -> int:
    """Derive a signed 64-bit ``pg_advisory_xact_lock`` key from ``parts``."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# A transaction that holds a claim lock and then goes quiet, because its
# replica lost its network or stopped, would block every claim on the feed on
# every replica until TCP gives up, which takes hours by default. PostgreSQL
# ends such a session after this long without a statement, releasing its
# locks. Claims and answers run their statements back to back, so the limit
# is far above their longest pause (rendering a batch of long documents).
IDLE_IN_TRANSACTION_LIMIT = "4s"
# A lock wait longer than this fails with 503 and the client retries. The
# limit matters when a replica is cut off: its requests already queued for
# the lock would otherwise take it one after another, each holding it for
# the idle limit above, because their results can no longer reach it.
LOCK_WAIT_LIMIT = "3s"


def _bound_waits(session: Session) -> None:
    session.execute(
        text(
            f"SET LOCAL idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_LIMIT}'"
        )
    )
    session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT_LIMIT}'"))


def lock_feed_claims(session: Session, feed_id: str) -> None:
    """Wait until no other transaction is claiming examples of ``feed_id``."""
    # NOTE: this lock serializes every claim on a feed across replicas and
    # bounds PostgreSQL throughput (docs/benchmarks.md). Row locks with SKIP
    # LOCKED on ``feed_slots`` could replace it; that needs a deadlock check of
    # the answer, purge and claim paths first.
    if is_postgresql(session):
        _bound_waits(session)
        session.execute(select(func.pg_advisory_xact_lock(lock_key(CLAIMS, feed_id))))


def lock_answers(session: Session, feed_id: str, annotator_id: str) -> None:
    """Wait until no other transaction stores answers of this annotator in this feed."""
    if is_postgresql(session):
        _bound_waits(session)
        session.execute(
            select(func.pg_advisory_xact_lock(lock_key(ANSWERS, feed_id, annotator_id)))
        )


def lock_dataset_slots(session: Session, dataset_id: str) -> None:
    """Wait until no other transaction adds or recomputes claim counters of the dataset.

    A feed created during an import, or an overlap change during one, would
    otherwise miss the rows the other transaction has not committed yet.
    """
    if is_postgresql(session):
        _bound_waits(session)
        session.execute(select(func.pg_advisory_xact_lock(lock_key(SLOTS, dataset_id))))


def try_lock_outbox(session: Session) -> bool:
    """Whether this transaction may send the outbox; only one replica sends at a time."""
    if not is_postgresql(session):
        return True
    return bool(session.scalar(select(func.pg_try_advisory_xact_lock(lock_key(OUTBOX)))))
