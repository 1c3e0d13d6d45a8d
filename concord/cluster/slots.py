"""Per-example counters of a feed: answers and leases against the overlap.

Every feed has one ``FeedSlot`` row per example of its dataset. A claim looks
for rows with ``free > 0`` through a partial index that holds only those rows, so its cost depends on the batch asked for, not on how much of
the feed is done. The counters are changed in the same transaction as the
answers and leases they count:

- a lease written: ``leases + 1``; a lease row deleted (answered, skipped,
  purged after expiry): ``leases - 1``;
- an answer stored: ``answers + 1``; an answer undone: ``answers - 1``;
- ``free``, the slots left, is ``needed - answers - leases`` after each change.

``recount`` rebuilds the counters of a feed from the answer and lease tables,
and ``drift`` lists the rows where they disagree, for tests and checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from concord.cluster.locks import lock_dataset_slots
from concord.cluster.models import Annotation, Example, Feed, FeedSlot, Lease

# Partial overlap and random order map a task hash through x -> x * a + b
# modulo the prime 2**31 - 1. Every intermediate value stays below 2**63, so
# SQLite and PostgreSQL compute it in 64-bit integers exactly as Python does.
MIX_PRIME = 2_147_483_647
PARTIAL_MULTIPLIER = 48_271
PARTIAL_BUCKETS = 10_000

SLOTS = FeedSlot.__table__

# ``needed`` of a full-overlap feed: every member annotates each example, so the slot never fills.
UNLIMITED = 1_000_000_000


def partial_bucket(task_hash: int) -> int:
    """Return the example's bucket in 0..9999; buckets below the fraction get the full overlap."""
    return task_hash % MIX_PRIME * PARTIAL_MULTIPLIER % MIX_PRIME % PARTIAL_BUCKETS


def partial_threshold(fraction: float) -> int:
    return round(fraction * PARTIAL_BUCKETS)


def example_overlap(feed: Feed, task_hash: int) -> int | None:
    """Return how many distinct annotators the example needs, or None for no limit."""
    if feed.overlap_mode == "full":
        return None
    if feed.overlap_mode == "partial":
        if partial_bucket(task_hash) < partial_threshold(feed.partial_fraction):
            return feed.overlap
        return 1
    return feed.overlap


def non_negative(value: Any) -> Any:  # noqa: ANN401
    # SQL's % keeps the sign of the dividend while Python's does not.
    return (value % MIX_PRIME + MIX_PRIME) % MIX_PRIME


def overlap_limit(
    feed: Feed, task_hash: Any = Example.task_hash  # noqa: ANN401
) -> ColumnElement[int] | None:
    """Build the SQL twin of ``example_overlap`` over a task hash column, or None for no limit."""
    if feed.overlap_mode == "full":
        return None
    if feed.overlap_mode == "partial":
        bucket = non_negative(task_hash) * PARTIAL_MULTIPLIER % MIX_PRIME
        chosen = bucket % PARTIAL_BUCKETS < partial_threshold(feed.partial_fraction)
        return case((chosen, feed.overlap), else_=1)
    return literal(feed.overlap)


def needed_expression(feed: Feed, task_hash: Any) -> ColumnElement[int]:  # noqa: ANN401
    limit = overlap_limit(feed, task_hash)
    return literal(UNLIMITED) if limit is None else limit


def slot_is_open(
    count_leases: bool = True, expired_before: Any = None  # noqa: ANN401
) -> ColumnElement[bool]:
    """Return the condition of an open slot. With leases counted, it matches the partial index.

    With ``expired_before``, lease rows that expired by then count as free
    although not purged yet, at the cost of a lookup per row.
    """
    if not count_leases:
        return FeedSlot.answers < FeedSlot.needed
    if expired_before is not None:
        expired = (
            select(func.count())
            .select_from(Lease)
            .where(
                Lease.feed_id == FeedSlot.feed_id,
                Lease.example_id == FeedSlot.example_id,
                Lease.expires_at <= expired_before,
            )
            .scalar_subquery()
        )
        return FeedSlot.free + expired > 0
    # A literal, not a bind parameter: PostgreSQL matches a partial index only
    # against constants it can see when it plans the query.
    return FeedSlot.free > literal_column("0")


def add_feed_slots(session: Session, feed: Feed) -> None:
    """Create the slot rows of a new feed, one per example of its dataset."""
    lock_dataset_slots(session, feed.dataset_id)
    _insert_missing(session, feed, None)


def add_dataset_slots(session: Session, dataset_id: str) -> None:
    """Create slot rows for examples added to a dataset, in every feed on it."""
    lock_dataset_slots(session, dataset_id)
    feeds = session.scalars(select(Feed).where(Feed.dataset_id == dataset_id))
    for feed in feeds:
        _insert_missing(session, feed, dataset_id)


def _insert_missing(session: Session, feed: Feed, only_missing_of: str | None) -> None:
    needed = needed_expression(feed, Example.task_hash)
    query = select(
        literal(feed.id),
        Example.id,
        Example.position,
        Example.task_hash,
        needed,
        literal(0),
        literal(0),
        needed,
    ).where(Example.dataset_id == feed.dataset_id)
    if only_missing_of is not None:
        query = query.where(
            ~select(FeedSlot.example_id)
            .where(FeedSlot.feed_id == feed.id, FeedSlot.example_id == Example.id)
            .exists()
        )
    session.execute(
        insert(FeedSlot).from_select(
            [
                FeedSlot.feed_id,
                FeedSlot.example_id,
                FeedSlot.position,
                FeedSlot.task_hash,
                FeedSlot.needed,
                FeedSlot.answers,
                FeedSlot.leases,
                FeedSlot.free,
            ],
            query,
        )
    )


def reset_needed(session: Session, feed: Feed) -> None:
    """Recompute every slot's overlap after the feed's overlap settings changed."""
    lock_dataset_slots(session, feed.dataset_id)
    session.execute(
        update(FeedSlot)
        .where(FeedSlot.feed_id == feed.id)
        .values(
            needed=needed_expression(feed, FeedSlot.task_hash),
            free=needed_expression(feed, FeedSlot.task_hash)
            - FeedSlot.answers
            - FeedSlot.leases,
        )
        .execution_options(synchronize_session=False)
    )


# One statement for every counter change, built once: adding zero to a counter
# is cheaper than building a statement per combination.
_CHANGE = (
    update(SLOTS)
    .where(
        SLOTS.c.feed_id == bindparam("slot_feed_id"),
        SLOTS.c.example_id.in_(bindparam("slot_example_ids", expanding=True)),
    )
    .values(
        answers=SLOTS.c.answers + bindparam("answers_added", type_=Integer),
        leases=SLOTS.c.leases + bindparam("leases_added", type_=Integer),
        free=SLOTS.c.free - bindparam("slots_taken", type_=Integer),
    )
)


def change(
    session: Session,
    feed_id: str,
    example_ids: Iterable[int],
    *,
    answers: int = 0,
    leases: int = 0,
) -> None:
    """Add ``answers`` and ``leases`` to the counters of each example (repeats add up)."""
    times = Counter(example_ids)
    change_each(
        session,
        feed_id,
        ((example_id, answers * count, leases * count) for example_id, count in times.items()),
    )


def change_each(
    session: Session, feed_id: str, deltas: Iterable[tuple[int, int, int]]
) -> None:
    """Apply ``(example_id, answers, leases)`` changes, one statement per distinct change."""
    by_delta: dict[tuple[int, int], list[int]] = {}
    for example_id, answers, leases in deltas:
        if answers or leases:
            by_delta.setdefault((answers, leases), []).append(example_id)
    for (answers, leases), ids in by_delta.items():
        _execute_change(session, feed_id, ids, answers, leases)


# PostgreSQL takes at most 65,535 parameters per statement.
CHANGE_CHUNK = 10_000


def _execute_change(
    session: Session, feed_id: str, ids: list[int], answers: int, leases: int
) -> None:
    # A Core statement on the session's connection: no ORM flush or
    # bookkeeping, since no loaded object contains these counters.
    for start in range(0, len(ids), CHANGE_CHUNK):
        session.connection().execute(
            _CHANGE,
            {
                "slot_feed_id": feed_id,
                "slot_example_ids": ids[start : start + CHANGE_CHUNK],
                "answers_added": answers,
                "leases_added": leases,
                "slots_taken": answers + leases,
            },
        )


def _true_counts(feed_id: str) -> tuple[Any, Any]:
    answers = (
        select(func.count())
        .select_from(Annotation)
        .where(Annotation.feed_id == feed_id, Annotation.example_id == FeedSlot.example_id)
        .scalar_subquery()
    )
    leases = (
        select(func.count())
        .select_from(Lease)
        .where(Lease.feed_id == feed_id, Lease.example_id == FeedSlot.example_id)
        .scalar_subquery()
    )
    return answers, leases


def recount(session: Session, feed_id: str) -> None:
    """Rebuild the feed's counters from its answers and leases."""
    answers, leases = _true_counts(feed_id)
    session.execute(
        update(FeedSlot)
        .where(FeedSlot.feed_id == feed_id)
        .values(answers=answers, leases=leases, free=FeedSlot.needed - answers - leases)
        .execution_options(synchronize_session=False)
    )


def drift(session: Session, feed_id: str) -> list[dict[str, int]]:
    """List the slots whose counters differ from the answer and lease tables."""
    answers, leases = _true_counts(feed_id)
    rows = session.execute(
        select(FeedSlot.example_id, FeedSlot.answers, answers, FeedSlot.leases, leases)
        .where(
            FeedSlot.feed_id == feed_id,
            or_(
                FeedSlot.answers != answers,
                FeedSlot.leases != leases,
                FeedSlot.free != FeedSlot.needed - FeedSlot.answers - FeedSlot.leases,
            ),
        )
        .order_by(FeedSlot.example_id)
    )
    return [
        {
            "example_id": example_id,
            "answers": stored_answers,
            "true_answers": true_answers,
            "leases": stored_leases,
            "true_leases": true_leases,
        }
        for example_id, stored_answers, true_answers, stored_leases, true_leases in rows
    ]


def missing_slots(session: Session, feed: Feed) -> int:
    """Count the feed's examples that have no slot row."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Example)
            .outerjoin(
                FeedSlot,
                and_(FeedSlot.feed_id == feed.id, FeedSlot.example_id == Example.id),
            )
            .where(Example.dataset_id == feed.dataset_id, FeedSlot.example_id.is_(None))
        )
        or 0
    )
