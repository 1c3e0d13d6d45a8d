"""The outbox: events written with the change they describe, delivered later.

``enqueue`` adds an event row inside the caller's transaction, so an answer and
its event commit or roll back together. ``OutboxSender`` is a background thread
that posts pending rows to the control plane in id order, retrying with
exponential backoff while the control plane is unreachable. The control plane
deduplicates by event id, so a row sent twice (after a crash between sending and
marking it delivered) is counted once. Replicas that share one PostgreSQL
database take turns sending (``concord.cluster.locks.try_lock_outbox``).
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from concord.cluster.context import ClusterContext
from concord.cluster.locks import try_lock_outbox
from concord.cluster.models import OutboxEvent
from concord.common.events import EventBatch

logger = logging.getLogger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


def new_event_fields(context: ClusterContext, project_id: str) -> dict[str, Any]:
    """The fields every event carries; requires a joined cluster."""
    assert context.membership is not None
    return {
        "event_id": uuid.uuid4().hex,
        "cluster_id": context.membership.cluster_id,
        "project_id": project_id,
        "created_at": now(),
    }


def enqueue(session: Session, event: Any) -> None:
    """Add ``event`` (a model from ``concord.common.events``) to the outbox."""
    # Validating through the batch model checks the event exactly as the
    # control plane will, before anything is committed.
    EventBatch(events=[event])
    session.add(
        OutboxEvent(
            event_id=event.event_id,
            kind=event.kind,
            payload=event.model_dump(mode="json"),
            created_at=now(),
            attempts=0,
        )
    )


def enqueue_many(session: Session, events: list[Any]) -> None:
    """Add several events to the outbox in one statement, checked as one batch."""
    if not events:
        return
    EventBatch(events=events)
    created_at = now()
    session.connection().execute(
        insert(OutboxEvent.__table__),
        [
            {
                "event_id": event.event_id,
                "kind": event.kind,
                "payload": event.model_dump(mode="json"),
                "created_at": created_at,
                "attempts": 0,
                "delivered_at": None,
                "rejected_reason": None,
            }
            for event in events
        ],
    )


class OutboxSender(threading.Thread):
    """Deliver outbox rows to the control plane until ``stop`` is called."""

    def __init__(self, context: ClusterContext, poll_seconds: float = 1.0) -> None:
        super().__init__(name="concord-outbox", daemon=True)
        self.context = context
        self.poll_seconds = poll_seconds
        self._stopping = threading.Event()
        self._failures = 0

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self.context.outbox_ready.set()
        self.join(timeout)

    def run(self) -> None:
        logger.info("outbox sender started")
        with httpx.Client(timeout=10.0) as client:
            while not self._stopping.is_set():
                wait = self.poll_seconds
                try:
                    sent = self.deliver_once(client)
                    self._failures = 0
                    if sent:
                        wait = 0.0
                except (httpx.HTTPError, DeliveryError) as exc:
                    self._failures += 1
                    wait = self._backoff()
                    # Log the first failure and then every tenth, so a long
                    # outage does not flood the log.
                    if self._failures == 1 or self._failures % 10 == 0:
                        logger.warning(
                            "outbox delivery failed (attempt %d, retry in %.1f s): %s",
                            self._failures,
                            wait,
                            exc,
                        )
                except Exception:
                    self._failures += 1
                    wait = self._backoff()
                    logger.exception("outbox sender error; retry in %.1f s", wait)
                if wait and self._failures:
                    # New events must not cut a backoff short, or an outage
                    # turns every answer into a delivery attempt.
                    self._stopping.wait(wait)
                elif wait:
                    self.context.outbox_ready.wait(wait)
                    self.context.outbox_ready.clear()
        logger.info("outbox sender stopped")

    def _backoff(self) -> float:
        limit = self.context.settings.outbox_max_backoff_seconds
        base = min(limit, 0.5 * 2 ** min(self._failures, 16))
        return base * random.uniform(0.5, 1.0)

    def deliver_once(self, client: httpx.Client) -> int:
        """Send one batch of pending events. Returns how many were settled."""
        membership = self.context.membership
        if membership is None:
            return 0
        with self.context.db.transaction() as turn:
            # Replicas sharing one PostgreSQL database take turns: the lock
            # lives until this transaction ends, after the rows are marked.
            if not try_lock_outbox(turn):
                return 0
            return self._deliver_batch(client, membership.cluster_secret)

    def _deliver_batch(self, client: httpx.Client, secret: str) -> int:
        batch = self._pending(self.context.settings.outbox_batch_size)
        if not batch:
            return 0
        response = self._post(client, secret, batch)
        if response.status_code == 422 and len(batch) > 1:
            # One malformed event must not block the rest: send one at a time.
            settled = 0
            for row in batch:
                single = self._post(client, secret, [row])
                settled += self._settle([row], single)
            return settled
        return self._settle(batch, response)

    def _pending(self, limit: int) -> list[OutboxEvent]:
        with self.context.db.reads() as session:
            query = (
                select(OutboxEvent)
                .where(OutboxEvent.delivered_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(limit)
            )
            return list(session.scalars(query))

    def _post(
        self, client: httpx.Client, secret: str, rows: list[OutboxEvent]
    ) -> httpx.Response:
        url = f"{self.context.settings.control_url.rstrip('/')}/api/events"
        return client.post(
            url,
            content=orjson.dumps({"events": [row.payload for row in rows]}),
            headers={
                "Authorization": f"Bearer {secret}",
                "Content-Type": "application/json",
            },
        )

    def _settle(self, rows: list[OutboxEvent], response: httpx.Response) -> int:
        ids = [row.id for row in rows]
        if response.status_code == 422:
            reason = _error_message(response)
            self._mark(ids, rejected={row.event_id: reason for row in rows})
            return len(rows)
        if response.status_code != 200:
            with self.context.db.transaction() as session:
                session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id.in_(ids))
                    .values(attempts=OutboxEvent.attempts + 1)
                )
            raise DeliveryError(
                f"control plane answered {response.status_code}: "
                f"{_error_message(response)}"
            )
        body = response.json()
        rejected = {item["event_id"]: item["reason"] for item in body.get("rejected", [])}
        self._mark(ids, rejected=rejected)
        return len(rows)

    def _mark(self, ids: list[int], rejected: dict[str, str]) -> None:
        delivered = now()
        with self.context.db.transaction() as session:
            # One statement for the whole batch keeps the write short.
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_(ids))
                .values(delivered_at=delivered, attempts=OutboxEvent.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if not rejected:
                return
            rows = session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.id.in_(ids), OutboxEvent.event_id.in_(list(rejected))
                )
            )
            for row in rows:
                row.rejected_reason = rejected[row.event_id]
                logger.warning(
                    "control plane rejected event %s (%s): %s",
                    row.event_id,
                    row.kind,
                    rejected[row.event_id],
                )


class DeliveryError(Exception):
    pass


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
