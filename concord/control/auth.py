"""Who is asking: API callers by bearer token, and their rights in a project.

The JSON API takes only ``Authorization: Bearer cct_...``. The browser session
cookie works on the HTML pages alone (see ``pages.py``), so a page on another
site cannot make a logged-in browser call the API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from concord.common.errors import Forbidden, NotFound, Unauthorized
from concord.control.database import get_session
from concord.control.models import ApiToken, Membership, Project, User, utcnow
from concord.control.security import API_TOKEN_PREFIX, sha256_hex

logger = logging.getLogger(__name__)

ROLE_RANK = {"annotator": 1, "reviewer": 2, "manager": 3}
# An instance admin acts as a manager in projects they are not a member of.
ADMIN_ROLE = "manager"
# Recording every use would write on every request; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)

api_bearer = HTTPBearer(
    scheme_name="ApiToken",
    description="An API token (cct_...) from POST /api/auth/login.",
    auto_error=False,
)


@dataclass(frozen=True)
class Caller:
    """The user behind a request and the id of the API token they used."""

    user: User
    token_id: str


@dataclass(frozen=True)
class ProjectAccess:
    """A project as one user sees it: their role and whether they are a member."""

    project: Project
    user: User
    role: str
    is_member: bool


def api_caller(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(api_bearer)],
    session: Annotated[Session, Depends(get_session)],
) -> Caller:
    """FastAPI dependency: the user whose API token is in the request."""
    if credentials is None:
        raise Unauthorized(
            "Missing API token: send 'Authorization: Bearer <token>'. "
            "Get a token with POST /api/auth/login."
        )
    token = credentials.credentials
    row = None
    if token.startswith(API_TOKEN_PREFIX):
        row = session.scalars(
            select(ApiToken).where(ApiToken.token_hash == sha256_hex(token))
        ).one_or_none()
    user = session.get(User, row.user_id) if row is not None else None
    if row is None or row.revoked_at is not None or user is None or not user.active:
        raise Unauthorized(
            "Invalid or revoked API token. Log in again with POST /api/auth/login."
        )
    _touch(session, row)
    return Caller(user=user, token_id=row.id)


def _touch(session: Session, token: ApiToken) -> None:
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.commit()


def admin_caller(caller: Annotated[Caller, Depends(api_caller)]) -> Caller:
    """FastAPI dependency: the caller, who must be an instance admin."""
    if not caller.user.is_admin:
        raise Forbidden("Only an administrator can do this; ask one of your admins.")
    return caller


CallerDep = Annotated[Caller, Depends(api_caller)]
AdminDep = Annotated[Caller, Depends(admin_caller)]
SessionDep = Annotated[Session, Depends(get_session)]


def project_access(session: Session, user: User, project_id: str) -> ProjectAccess:
    """Return ``user``'s view of a project; raise NotFound unless they may see it.

    Non-members get the same 404 as for a project that does not exist, so
    project ids reveal nothing.
    """
    project = session.get(Project, project_id)
    membership = None
    if project is not None:
        membership = session.get(Membership, (project.id, user.id))
    if project is None or (membership is None and not user.is_admin):
        raise NotFound(
            f"Project '{project_id}' not found. List yours with GET /api/projects."
        )
    role = membership.role if membership is not None else ADMIN_ROLE
    return ProjectAccess(project, user, role, is_member=membership is not None)


def require_role(access: ProjectAccess, minimum: str) -> None:
    """Raise Forbidden when the caller's role in the project is below ``minimum``.

    Instance admins pass whatever their role in the project is.
    """
    if access.user.is_admin:
        return
    if ROLE_RANK[access.role] < ROLE_RANK[minimum]:
        raise Forbidden(
            f"Your role in project '{access.project.name}' is {access.role}; "
            f"this needs {minimum} or higher. Ask a project manager."
        )
