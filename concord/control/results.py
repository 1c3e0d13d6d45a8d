"""The latest agreement and gold figures that clusters reported."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.orm import Session

from concord.common.errors import NotFound
from concord.control.auth import CallerDep, SessionDep, project_access
from concord.control.models import AgreementResult, Dataset, Feed, GoldResult, User

SourceKind = Literal["feed", "dataset"]


class SourceResult(BaseModel):
    """The values of the latest event of one kind about a feed or a dataset."""

    source_kind: SourceKind
    source_id: str
    project_id: str
    event_id: str
    computed_at: datetime
    values: dict[str, Any]


def source_project_id(session: Session, kind: SourceKind, source_id: str) -> str | None:
    """Return the project of a feed or dataset, or None when it is unknown."""
    model = Feed if kind == "feed" else Dataset
    row = session.get(model, source_id)
    return row.project_id if row is not None else None


def latest_result(
    session: Session,
    user: User,
    model: type[AgreementResult] | type[GoldResult],
    kind: SourceKind,
    source_id: str,
) -> SourceResult:
    """Return the stored result for a source the user may see, else NotFound."""
    project_id = source_project_id(session, kind, source_id)
    missing = NotFound(f"No {kind} '{source_id}' with reported results was found.")
    if project_id is None:
        raise missing
    try:
        project_access(session, user, project_id)
    except NotFound:
        raise missing from None
    row = session.get(model, (kind, source_id))
    if row is None:
        raise missing
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
    source_kind: SourceKind, source_id: str, caller: CallerDep, session: SessionDep
) -> SourceResult:
    """Return the latest agreement figures computed for a feed or dataset."""
    return latest_result(session, caller.user, AgreementResult, source_kind, source_id)


@router.get("/gold/{source_kind}/{source_id}")
def gold(
    source_kind: SourceKind, source_id: str, caller: CallerDep, session: SessionDep
) -> SourceResult:
    """Return the latest gold build counts for a feed or dataset."""
    return latest_result(session, caller.user, GoldResult, source_kind, source_id)
