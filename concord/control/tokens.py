"""Personal API tokens for the CLI and scripts: shown once, stored hashed.

A token is listed, and works, until its owner revokes it, logs out with it,
changes their password or is deactivated.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from concord.common.errors import NotFound
from concord.control import audit
from concord.control.auth import SessionDep
from concord.control.authorization import GrantDep
from concord.control.models import ApiToken, User, utcnow
from concord.control.schemas import ApiTokenCreated, ApiTokenIn, ApiTokenOut
from concord.control.security import API_TOKEN_PREFIX, new_secret, sha256_hex

logger = logging.getLogger(__name__)


def issue_api_token(session: Session, user: User, name: str) -> tuple[str, ApiToken]:
    """Add a new API token for ``user`` to the session; return it and its row.

    Only its hash is stored; the caller commits.
    """
    token = new_secret(API_TOKEN_PREFIX)
    row = ApiToken(
        user_id=user.id, token_hash=sha256_hex(token), name=name, created_at=utcnow()
    )
    session.add(row)
    session.flush()
    return token, row


def revoke_api_token(session: Session, token_id: str) -> None:
    token = session.get(ApiToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()


def live_tokens(session: Session, user: User) -> list[ApiToken]:
    query = (
        select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    return list(session.scalars(query))


def _own_live_token(session: Session, user: User, token_id: str) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id or token.revoked_at is not None:
        raise NotFound(
            f"API token '{token_id}' not found among your tokens. List them with "
            "GET /api/me/tokens."
        )
    return token


router = APIRouter(prefix="/api/me/tokens", tags=["users"])


@router.get("")
def tokens(grant: GrantDep, session: SessionDep) -> list[ApiTokenOut]:
    """List the caller's API tokens that still work (never the tokens themselves)."""
    return [
        ApiTokenOut(
            id=row.id,
            name=row.name,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            current=row.id == grant.token_id,
        )
        for row in live_tokens(session, grant.caller)
    ]


@router.post("", status_code=201)
def create_token(
    body: ApiTokenIn, request: Request, grant: GrantDep, session: SessionDep
) -> ApiTokenCreated:
    """Create a named API token; the response is the only time it is shown."""
    token, row = issue_api_token(session, grant.caller, body.name)
    audit.record(
        session,
        "api_token.created",
        actor=grant.caller,
        object_type="api_token",
        object_id=row.id,
        address=audit.client_address(request),
        details={"name": body.name},
    )
    session.commit()
    return ApiTokenCreated(
        id=row.id, name=row.name, token=token, created_at=row.created_at
    )


@router.delete("/{token_id}", status_code=204)
def delete_token(
    token_id: str, request: Request, grant: GrantDep, session: SessionDep
) -> None:
    """Revoke one of the caller's API tokens."""
    row = _own_live_token(session, grant.caller, token_id)
    row.revoked_at = utcnow()
    audit.record(
        session,
        "api_token.revoked",
        actor=grant.caller,
        object_type="api_token",
        object_id=row.id,
        address=audit.client_address(request),
    )
    session.commit()
