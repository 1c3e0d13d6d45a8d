"""The latest agreement and gold figures that clusters reported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.orm import Session

from concord.common.errors import NotFound
from concord.control.auth import SessionDep
from concord.control.authorization import GrantDep, SourceKind
from concord.control.models import AgreementResult, GoldResult


class SourceResult(BaseModel):
    """The values of the latest event of one kind about a feed or a dataset."""

    source_kind: SourceKind
    source_id: str
    project_id: str
    event_id: str
    computed_at: datetime
    values: dict[str, Any]


def latest_result(
    session: Session,
    model: type[AgreementResult] | type[GoldResult],
    kind: SourceKind,
    source_id: str,
) -> SourceResult:
    """Return the stored result for a source; raise NotFound when there is none.

    The caller's right to see the source was checked before.
    """
    row = session.get(model, (kind, source_id))
    if row is None:
        raise NotFound(f"No {kind} '{source_id}' with reported results was found.")
    return SourceResult(
        source_kind=kind,
        source_id=source_id,
        project_id=row.project_id,
        event_id=row.event_id,
        computed_at=row.computed_at,
        values=row.values,
    )


router = APIRouter(prefix="/api", tags=["agreement and gold"])


@router.get("/agreement/{source_kind}/{source_id}")
def agreement(
    source_kind: SourceKind, source_id: str, grant: GrantDep, session: SessionDep
) -> SourceResult:
    """Return the latest agreement figures computed for a feed or dataset."""
    return latest_result(session, AgreementResult, source_kind, source_id)


@router.get("/gold/{source_kind}/{source_id}")
def gold(
    source_kind: SourceKind, source_id: str, grant: GrantDep, session: SessionDep
) -> SourceResult:
    """Return the latest gold build counts for a feed or dataset."""
    return latest_result(session, GoldResult, source_kind, source_id)
