"""The append-only audit log: who did what to which object, and when.

Entries are only ever added. SQLAlchemy events raise on any update or delete
of an entry, whether through a loaded row or a bulk statement, and on SQLite
a trigger refuses both as well. Entries hold ids, usernames, role names,
client addresses and counts, never passwords, tokens or example text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import Select, event, select
from sqlalchemy.orm import ORMExecuteState, Session

from concord.control.models import AuditEntry, User, utcnow

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or remove an audit entry."""


@event.listens_for(AuditEntry, "before_update")
def _refuse_update(*_: Any) -> None:
    raise AuditLogIsAppendOnly("audit entries cannot be changed")


@event.listens_for(AuditEntry, "before_delete")
def _refuse_delete(*_: Any) -> None:
    raise AuditLogIsAppendOnly("audit entries cannot be deleted")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_change(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and mapper.class_ is AuditEntry:
        raise AuditLogIsAppendOnly("audit entries cannot be changed or deleted")


def client_address(request: Request) -> str:
    # NOTE: behind a reverse proxy this is the proxy's address unless uvicorn
    # runs with --proxy-headers and a trusted --forwarded-allow-ips.
    return request.client.host if request.client is not None else "unknown"


def record(
    session: Session,
    action: str,
    *,
    actor: User | None = None,
    actor_name: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    project_id: str | None = None,
    address: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an entry to the session; it is stored with the caller's commit."""
    session.add(
        AuditEntry(
            at=utcnow(),
            actor_id=actor.id if actor is not None else None,
            actor_name=actor.username if actor is not None else actor_name,
            action=action,
            object_type=object_type,
            object_id=object_id,
            project_id=project_id,
            address=address,
            details=details or {},
        )
    )


@dataclass(frozen=True)
class AuditFilter:
    """Conditions on the entries to list; None means any."""

    actor: str | None = None
    action: str | None = None
    object_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = 100


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None


def _query(conditions: AuditFilter) -> Select[tuple[AuditEntry]]:
    query = select(AuditEntry).order_by(AuditEntry.seq.desc())
    if conditions.actor:
        query = query.where(
            (AuditEntry.actor_name == conditions.actor)
            | (AuditEntry.actor_id == conditions.actor)
        )
    if conditions.action:
        query = query.where(AuditEntry.action == conditions.action)
    if conditions.object_id:
        query = query.where(AuditEntry.object_id == conditions.object_id)
    if conditions.since:
        query = query.where(AuditEntry.at >= conditions.since)
    if conditions.until:
        query = query.where(AuditEntry.at < conditions.until)
    if conditions.before:
        query = query.where(AuditEntry.seq < conditions.before)
    return query


def search(session: Session, conditions: AuditFilter) -> AuditPage:
    """Return the newest matching entries, and the cursor of the next page."""
    limit = max(1, min(conditions.limit, MAX_PAGE_SIZE))
    rows = list(session.scalars(_query(conditions).limit(limit + 1)))
    more = len(rows) > limit
    entries = rows[:limit]
    return AuditPage(entries, entries[-1].seq if more and entries else None)
