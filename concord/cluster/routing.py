"""Task routing: the examples an annotator gets next, and the leases on them.

An example is open to an annotator while the number of distinct annotators who
answered it in the feed plus the live leases on it is below the example's
overlap, and that annotator has neither answered, skipped nor holds it.
Handing it out writes a lease; a lease not answered before it expires is
deleted and the example returns to the pool. Leases the annotator still holds
come back first, so a reloaded page shows the same task. docs/routing.md lists
the rules one by one.

Claims run inside one write transaction (``BEGIN IMMEDIATE`` on SQLite, a
per-feed advisory lock on PostgreSQL, see ``concord.cluster.locks``), so two
annotators asking at once, on one replica or several, cannot both take the
last open slot.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased

from concord.cluster.context import ClusterContext
from concord.cluster.datasets import utcnow
from concord.cluster.locks import lock_answers, lock_feed_claims
from concord.cluster.interfaces import TEXT_SPAN_INTERFACES, VIEW_IDS, shown_interface
from concord.cluster.media import add_image_size
from concord.cluster import slots
from concord.cluster.models import Annotation, Example, Feed, FeedSlot, Lease, Skip
from concord.cluster.reviews import has_versions, review_versions
from concord.cluster.slots import (  # noqa: F401 - partial_bucket and friends are public here
    MIX_PRIME,
    example_overlap,
    non_negative,
    overlap_limit,
    partial_bucket,
)
from concord.common.errors import Conflict, InvalidInput

LEASES = Lease.__table__
_EXPIRE = (
    delete(LEASES)
    .where(
        LEASES.c.feed_id == bindparam("feed_id"),
        LEASES.c.expires_at <= bindparam("now", type_=DateTime(timezone=True)),
    )
    .returning(LEASES.c.example_id)
)
_RENEW = (
    update(LEASES)
    .where(
        LEASES.c.feed_id == bindparam("lease_feed_id"),
        LEASES.c.annotator_id == bindparam("lease_annotator_id"),
        LEASES.c.expires_at > bindparam("now", type_=DateTime(timezone=True)),
    )
    .values(expires_at=bindparam("expires", type_=DateTime(timezone=True)))
)

EmptyReason = Literal["done", "quota", "leased-by-others"]


# Interfaces whose answer covers the whole text or image, so an annotator who
# has answered one task on it must not get another task on the same input.
ONE_TASK_PER_INPUT = frozenset({"ner_manual", "spans_manual", "image_manual"})


@dataclass
class Batch:
    tasks: list[dict[str, Any]]
    lease_expires_at: datetime | None
    # Why ``tasks`` is empty, or None when it is not.
    reason: EmptyReason | None = None


def random_coefficients(seed: int, annotator_id: str) -> tuple[int, int]:
    digest = hashlib.sha256(f"{seed}:{annotator_id}".encode()).digest()
    multiplier = int.from_bytes(digest[:8], "big") % (MIX_PRIME - 1) + 1
    offset = int.from_bytes(digest[8:16], "big") % MIX_PRIME
    return multiplier, offset


def _priority(dialect: str) -> ColumnElement[Any]:
    # A task whose priority is missing or not a number sorts after all others.
    if dialect == "sqlite":
        kind = func.json_type(Example.task, "$.priority")
        value = func.json_extract(Example.task, "$.priority")
        return case((kind.in_(["integer", "real"]), value), else_=None)
    # NOTE: assumes the task column is PostgreSQL's json type, not jsonb.
    kind = func.json_typeof(Example.task["priority"])
    return case((kind == "number", Example.task["priority"].as_float()), else_=None)


def order_columns(
    feed: Feed,
    annotator_id: str,
    dialect: str,
    position: Any = Example.position,  # noqa: ANN401
    task_hash: Any = Example.task_hash,  # noqa: ANN401
    coefficients: tuple[Any, Any] | None = None,
) -> list[Any]:
    """Return the ORDER BY columns of the feed's task order, with source position last."""
    if feed.order == "random":
        # Each annotator gets their own permutation, fixed by the feed's seed.
        multiplier, offset = coefficients or random_coefficients(feed.seed, annotator_id)
        key = (non_negative(task_hash) * multiplier + offset) % MIX_PRIME
        return [key, position]
    if feed.order == "priority":
        return [_priority(dialect).desc().nulls_last(), position]
    return [position]


def expire_leases(session: Session, feed_id: str, now: datetime) -> None:
    """Delete the feed's expired leases, so their examples return to the pool."""
    expired = (
        session.connection()
        .execute(_EXPIRE, {"feed_id": feed_id, "now": now})
        .scalars()
        .all()
    )
    slots.change(session, feed_id, expired, leases=-1)


def open_examples_query(  # noqa: ANN201
    feed: Feed,
    annotator_id: Any,  # noqa: ANN401 - a value or a bind parameter
    now: Any,  # noqa: ANN401 - a value or a bind parameter
    *,
    dialect: str = "sqlite",
    count_leases: bool = True,
    coefficients: tuple[Any, Any] | None = None,
    expired_are_free: bool = False,
):
    """Build a select of the ids of examples open to ``annotator_id``, in feed order.

    With ``count_leases`` false, other annotators' leases do not fill slots.
    That separates "everything is taken for now" from "nothing is left". The
    lease counters include expired leases until ``expire_leases`` purges them,
    so callers purge first.
    """
    answered_by_me = exists().where(
        Annotation.feed_id == feed.id,
        Annotation.example_id == FeedSlot.example_id,
        Annotation.annotator_id == annotator_id,
    )
    held_by_me = exists().where(
        Lease.feed_id == feed.id,
        Lease.example_id == FeedSlot.example_id,
        Lease.annotator_id == annotator_id,
        Lease.expires_at > now,
    )
    skipped_by_me = exists().where(
        Skip.feed_id == feed.id,
        Skip.example_id == FeedSlot.example_id,
        Skip.annotator_id == annotator_id,
    )
    conditions = [
        FeedSlot.feed_id == feed.id,
        slots.slot_is_open(count_leases, now if expired_are_free else None),
        ~answered_by_me,
        ~held_by_me,
        ~skipped_by_me,
    ]
    if feed.exclude_seen_in_other_feeds:
        other = aliased(Annotation)
        conditions.append(
            ~exists().where(
                other.example_id == FeedSlot.example_id,
                other.annotator_id == annotator_id,
                other.feed_id.is_not(None),
                other.feed_id != feed.id,
            )
        )
    if feed.interface in ONE_TASK_PER_INPUT:
        conditions.append(~_same_input_seen(feed, annotator_id, now))
    if feed.interface == "review":
        conditions.append(has_versions(feed))
    return (
        select(FeedSlot.example_id)
        .join(Example, Example.id == FeedSlot.example_id)
        .where(*conditions)
        .order_by(
            *order_columns(
                feed,
                annotator_id,
                dialect,
                FeedSlot.position,
                FeedSlot.task_hash,
                coefficients,
            )
        )
    )


_EXAMPLES_BY_ID = select(Example).where(
    Example.id.in_(bindparam("example_ids", expanding=True))
)


def _order_coefficients(feed: Feed) -> tuple[Any, Any] | None:
    if feed.order != "random":
        return None
    return (
        bindparam("multiplier", type_=BigInteger),
        bindparam("offset", type_=BigInteger),
    )


def _order_values(feed: Feed, annotator_id: str) -> dict[str, int]:
    if feed.order != "random":
        return {}
    multiplier, offset = random_coefficients(feed.seed, annotator_id)
    return {"multiplier": multiplier, "offset": offset}


# Claim and held-lease statements by purpose, feed id and dialect, built once
# with bind parameters, because building a statement costs more than running
# it. Their structure depends only on settings that cannot change after the
# feed is created.
_STATEMENTS: dict[tuple[str, str, str], Any] = {}
MAX_CACHED_STATEMENTS = 2048


def _cached(purpose: str, feed: Feed, dialect: str, build: Any) -> Any:  # noqa: ANN401
    key = (purpose, feed.id, dialect)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = build()
        if len(_STATEMENTS) >= MAX_CACHED_STATEMENTS:
            _STATEMENTS.clear()
        _STATEMENTS[key] = statement
    return statement


def held_statement(feed: Feed, dialect: str) -> Any:  # noqa: ANN401
    """Return the cached select of the example ids an annotator holds, in feed order."""

    def build() -> Any:  # noqa: ANN401
        return (
            select(Lease.example_id)
            .join(Example, Example.id == Lease.example_id)
            .where(
                Lease.feed_id == feed.id,
                Lease.annotator_id == bindparam("annotator_id", type_=String),
            )
            .order_by(
                *order_columns(feed, "", dialect, coefficients=_order_coefficients(feed))
            )
        )

    return _cached("held", feed, dialect, build)


def claim_statement(feed: Feed, dialect: str) -> Any:  # noqa: ANN401
    """Return the cached select of open example ids (and input hashes) for a claim."""

    def build() -> Any:  # noqa: ANN401
        query = open_examples_query(
            feed,
            bindparam("annotator_id", type_=String),
            bindparam("now", type_=DateTime(timezone=True)),
            dialect=dialect,
            coefficients=_order_coefficients(feed),
        )
        if feed.interface in ONE_TASK_PER_INPUT:
            query = query.add_columns(Example.input_hash)
        return query.limit(bindparam("limit", type_=Integer))

    return _cached("claim", feed, dialect, build)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def count_answers(session: Session, feed: Feed, annotator_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Annotation)
            .where(Annotation.feed_id == feed.id, Annotation.annotator_id == annotator_id)
        )
        or 0
    )


def _same_input_seen(feed: Feed, annotator_id: str, now: datetime):  # noqa: ANN202
    """Whether the annotator answered or holds another task with the same input."""
    other = aliased(Example)
    answered = (
        select(Annotation.id)
        .join(other, other.id == Annotation.example_id)
        .where(
            Annotation.feed_id == feed.id,
            Annotation.annotator_id == annotator_id,
            other.input_hash == Example.input_hash,
        )
    )
    held = (
        select(Lease.id)
        .join(other, other.id == Lease.example_id)
        .where(
            Lease.feed_id == feed.id,
            Lease.annotator_id == annotator_id,
            Lease.expires_at > now,
            other.input_hash == Example.input_hash,
        )
    )
    return answered.exists() | held.exists()


def count_open(session: Session, feed: Feed, annotator_id: str) -> int:
    """Count the new examples the annotator could be given now, within the quota.

    This is a read: expired leases are not purged here, so they are counted as
    free slots by looking at their expiry instead of the counters.
    """
    now = utcnow()
    query = open_examples_query(
        feed, annotator_id, now, dialect=_dialect(session), expired_are_free=True
    ).subquery()
    available = int(session.scalar(select(func.count()).select_from(query)) or 0)
    if feed.quota is None:
        return available
    room = feed.quota - count_answers(session, feed, annotator_id)
    return max(0, min(available, room))


def next_batch(
    session: Session,
    feed: Feed,
    annotator_id: str,
    count: int,
    context: ClusterContext,
) -> Batch:
    """Return up to ``count`` tasks for the annotator, leasing new ones as needed."""
    lock_feed_claims(session, feed.id)
    # Held leases are renewed below, so answers that would delete them wait.
    lock_answers(session, feed.id, annotator_id)
    now = utcnow()
    dialect = _dialect(session)
    expires = now + timedelta(seconds=feed.lease_seconds)
    expire_leases(session, feed.id, now)
    held = list(
        session.connection()
        .execute(
            held_statement(feed, dialect),
            {"annotator_id": annotator_id, **_order_values(feed, annotator_id)},
        )
        .scalars()
    )
    if held:
        # Asking again counts as activity, so held leases are renewed.
        session.connection().execute(
            update(LEASES)
            .where(LEASES.c.feed_id == feed.id, LEASES.c.annotator_id == annotator_id)
            .values(expires_at=expires)
        )
    example_ids = held[:count]
    missing = count - len(example_ids)
    if feed.quota is not None:
        # Leases held count against the quota, so answering them all cannot exceed it.
        room = feed.quota - count_answers(session, feed, annotator_id) - len(held)
        missing = min(missing, room)
    if missing > 0:
        new_ids = _claimable(session, feed, annotator_id, now, missing, dialect)
        if new_ids:
            session.connection().execute(
                insert(LEASES),
                [
                    {
                        "feed_id": feed.id,
                        "example_id": example_id,
                        "annotator_id": annotator_id,
                        "expires_at": expires,
                    }
                    for example_id in new_ids
                ],
            )
            slots.change(session, feed.id, new_ids, leases=1)
        example_ids.extend(new_ids)
    examples = {
        example.id: example
        for example in session.scalars(_EXAMPLES_BY_ID, {"example_ids": example_ids})
    }
    tasks = [render_task(session, feed, examples[example_id], context) for example_id in example_ids]
    if tasks:
        return Batch(tasks=tasks, lease_expires_at=expires)
    return Batch(
        tasks=[], lease_expires_at=None, reason=_empty_reason(session, feed, annotator_id, now)
    )


def _empty_reason(
    session: Session, feed: Feed, annotator_id: str, now: datetime
) -> EmptyReason:
    if feed.quota is not None and count_answers(session, feed, annotator_id) >= feed.quota:
        return "quota"
    query = open_examples_query(
        feed, annotator_id, now, dialect=_dialect(session), count_leases=False
    )
    if session.scalar(query.limit(1)) is not None:
        return "leased-by-others"
    return "done"


def renew_leases(session: Session, feed: Feed, annotator_id: str) -> tuple[int, datetime]:
    """Extend the annotator's live leases in the feed; return how many and until when.

    Expired leases are not revived, because their slot may already be leased
    to someone else.
    """
    now = utcnow()
    expires = now + timedelta(seconds=feed.lease_seconds)
    result = session.connection().execute(
        _RENEW,
        {
            "lease_feed_id": feed.id,
            "lease_annotator_id": annotator_id,
            "now": now,
            "expires": expires,
        },
    )
    return int(result.rowcount or 0), expires  # type: ignore[attr-defined]


def skip_example(session: Session, feed: Feed, annotator_id: str, task_hash: int) -> None:
    """Release the annotator's lease on an example and never offer it to them again.

    Skipping twice is harmless. An example the annotator has answered cannot be
    skipped, since the answer already counts.
    """
    example = session.scalar(
        select(Example).where(
            Example.dataset_id == feed.dataset_id, Example.task_hash == task_hash
        )
    )
    if example is None:
        raise InvalidInput(
            f"Task hash {task_hash} is not in this feed; skip only tasks from "
            "POST /api/feeds/{id}/next.",
            details={"task_hash": task_hash},
        )
    answered = session.scalar(
        select(Annotation.id).where(
            Annotation.feed_id == feed.id,
            Annotation.example_id == example.id,
            Annotation.annotator_id == annotator_id,
        )
    )
    if answered is not None:
        raise Conflict(
            f"Task {task_hash} is already answered; undo the answer with "
            "POST /api/feeds/{id}/undo before skipping it.",
            details={"task_hash": task_hash},
        )
    released = session.execute(
        delete(Lease).where(
            Lease.feed_id == feed.id,
            Lease.example_id == example.id,
            Lease.annotator_id == annotator_id,
        )
    )
    slots.change(session, feed.id, [example.id] * int(released.rowcount or 0), leases=-1)  # type: ignore[attr-defined]
    skipped = session.scalar(
        select(Skip.id).where(
            Skip.feed_id == feed.id,
            Skip.example_id == example.id,
            Skip.annotator_id == annotator_id,
        )
    )
    if skipped is None:
        session.add(
            Skip(
                feed_id=feed.id,
                example_id=example.id,
                annotator_id=annotator_id,
                created_at=utcnow(),
            )
        )


def _claimable(
    session: Session,
    feed: Feed,
    annotator_id: str,
    now: datetime,
    count: int,
    dialect: str,
) -> list[int]:
    """Pick up to ``count`` open examples, one per input text in manual feeds."""
    statement = claim_statement(feed, dialect)
    values: dict[str, Any] = {
        "annotator_id": annotator_id,
        "now": now,
        "limit": count,
        **_order_values(feed, annotator_id),
    }
    if feed.interface not in ONE_TASK_PER_INPUT:
        return list(session.connection().execute(statement, values).scalars())
    # Several open tasks can share an input text; fetch spares and keep the first.
    values["limit"] = count * 4
    rows = session.connection().execute(statement, values)
    chosen: dict[int, int] = {}
    for example_id, input_hash in rows:
        if input_hash not in chosen:
            chosen[input_hash] = example_id
        if len(chosen) == count:
            break
    return list(chosen.values())


def lease_example(
    session: Session, feed: Feed, example: Example, annotator_id: str
) -> None:
    """Give ``example`` back to the annotator, as after an undo."""
    expires = utcnow() + timedelta(seconds=feed.lease_seconds)
    lease = session.scalar(
        select(Lease).where(
            and_(
                Lease.feed_id == feed.id,
                Lease.example_id == example.id,
                Lease.annotator_id == annotator_id,
            )
        )
    )
    if lease is None:
        session.add(
            Lease(
                feed_id=feed.id,
                example_id=example.id,
                annotator_id=annotator_id,
                expires_at=expires,
            )
        )
        slots.change(session, feed.id, [example.id], leases=1)
    else:
        lease.expires_at = expires


def render_task(
    session: Session, feed: Feed, example: Example, context: ClusterContext
) -> dict[str, Any]:
    """Return the example as this feed's interface shows it to the annotator."""
    shown = shown_interface(feed)
    prepare_example(example, shown, context)
    task = dict(example.task)
    if shown == "binary" and feed.label:
        task["label"] = feed.label
    if shown == "choice" and feed.options:
        task["options"] = feed.options
    if feed.interface == "review":
        task["versions"] = review_versions(session, feed, example)
        task["view_id"] = VIEW_IDS[shown]
    task["_view_id"] = VIEW_IDS[feed.interface]
    task["_input_hash"] = example.input_hash
    task["_task_hash"] = example.task_hash
    return task


def prepare_example(example: Example, interface: str, context: ClusterContext) -> None:
    """Store the tokens or the image size an interface needs on the example, once.

    Every annotator's spans then use the same tokens, and no request pays for
    tokenizing or reading the image again.
    """
    task = dict(example.task)
    if interface in TEXT_SPAN_INTERFACES:
        if "tokens" in task or not isinstance(task.get("text"), str):
            return
        task["tokens"] = context.tokenizer.tokens(task["text"])
    elif interface != "image_manual" or not add_image_size(
        context.settings.media_dir, task
    ):
        return
    example.task = task
