"""Caller identification (users by API token, clusters by secret) and rights
in a project.

The JSON API takes only ``Authorization: Bearer cct_...``. The browser session
cookie works on the HTML pages alone (see ``authorization.py``), so a page on
another site cannot make a logged-in browser call the API.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.orm import Session

from concord.common.errors import Forbidden, NotFound, Unauthorized
from concord.common.permissions import role_meets
from concord.control.database import get_session
from concord.control.models import (
    ApiToken,
    Cluster,
    Feed,
    FeedMember,
    Membership,
    Project,
    User,
    utcnow,
)
from concord.control.security import API_TOKEN_PREFIX, sha256_hex

logger = logging.getLogger(__name__)

# An instance admin acts as a manager in projects they are not a member of.
ADMIN_ROLE = "manager"
# Recording every use would write on every request; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)

SessionDep = Annotated[Session, Depends(get_session)]


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

    @property
    def sees_all_feeds(self) -> bool:
        """Whether the user reaches every feed: admins, reviewers and managers."""
        return self.user.is_admin or self.role in ("reviewer", "manager")


def caller_from_token(session: Session, token: str | None) -> Caller:
    """Return the active user whose API token this is; raise Unauthorized if none."""
    if not token:
        raise Unauthorized(
            "Missing API token: send 'Authorization: Bearer <token>'. "
            "Get a token with POST /api/auth/login."
        )
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


def cluster_from_secret(session: Session, secret: str | None) -> Cluster:
    """Return the cluster whose secret this is; raise Unauthorized if none."""
    cluster = None
    if secret:
        cluster = session.scalars(
            select(Cluster).where(Cluster.secret_hash == sha256_hex(secret))
        ).one_or_none()
    if cluster is None:
        raise Unauthorized(
            "Missing or invalid cluster secret: send 'Authorization: Bearer "
            "<cluster secret>'. A cluster that lost its secret joins again."
        )
    return cluster


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
    if not role_meets(access.role, minimum):  # type: ignore[arg-type]
        raise Forbidden(
            f"Your role in project '{access.project.name}' is {access.role}; "
            f"this needs {minimum} or higher. Ask a project manager."
        )


def may_annotate(session: Session, access: ProjectAccess, feed: Feed) -> bool:
    """Tell whether the user may work on ``feed``: reviewers, managers and
    admins always; annotators when they are members of the feed."""
    if feed.project_id != access.project.id:
        return False
    if access.sees_all_feeds:
        return True
    return session.get(FeedMember, (feed.id, access.user.id)) is not None
