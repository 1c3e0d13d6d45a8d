"""Admin views of the audit log, as JSON and as an HTML page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from concord.control import audit
from concord.control.audit import MAX_PAGE_SIZE, AuditFilter
from concord.control.auth import SessionDep
from concord.control.authorization import GrantDep
from concord.control.models import AuditEntry
from concord.control.pages import page_context, render


class AuditEntryOut(BaseModel):
    seq: int
    at: datetime
    actor_id: str | None
    actor_name: str | None
    action: str
    object_type: str | None
    object_id: str | None
    project_id: str | None
    address: str | None
    details: dict[str, Any]


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut]
    next_before: int | None


def audit_filter(
    actor: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=48)] = None,
    object_id: Annotated[str | None, Query(alias="object", max_length=128)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
) -> AuditFilter:
    """Query parameters of the audit log: who (username or user id), what
    action, which object id, a time range, then ``before`` and ``limit`` to
    page through results newest first."""
    return AuditFilter(actor, action, object_id, since, until, before, limit)


FilterDep = Annotated[AuditFilter, Depends(audit_filter)]


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    return AuditEntryOut.model_validate(entry, from_attributes=True)


router = APIRouter(tags=["admin"])


@router.get("/api/audit")
def audit_log(
    conditions: FilterDep, grant: GrantDep, session: SessionDep
) -> AuditPageOut:
    """List audit entries, newest first; pass ``next_before`` as ``before`` for
    the next page."""
    page = audit.search(session, conditions)
    return AuditPageOut(
        entries=[entry_out(entry) for entry in page.entries],
        next_before=page.next_before,
    )


def _next_page_url(conditions: AuditFilter, next_before: int | None) -> str | None:
    if next_before is None:
        return None
    params = {
        "actor": conditions.actor,
        "action": conditions.action,
        "object": conditions.object_id,
        "since": conditions.since.isoformat() if conditions.since else None,
        "until": conditions.until.isoformat() if conditions.until else None,
        "limit": conditions.limit,
        "before": next_before,
    }
    return "/admin/audit?" + urlencode({k: v for k, v in params.items() if v})


@router.get("/admin/audit", include_in_schema=False)
def audit_page(
    request: Request, conditions: FilterDep, grant: GrantDep, session: SessionDep
) -> Response:
    """Render the audit log with its filters."""
    page = audit.search(session, conditions)
    context = {
        **page_context(grant),
        "entries": page.entries,
        "filters": conditions,
        "next_url": _next_page_url(conditions, page.next_before),
    }
    return render(request, "audit.html", context)
