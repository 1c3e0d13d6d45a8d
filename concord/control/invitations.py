"""Invitations: one-time links that let a new person join a project.

A manager (or an admin) creates an invitation for a role in a project and
passes on the link ``/invite/{token}``. The person who opens it chooses a
username and a password, gets an account and becomes a member with that
role. A link
works once and expires (72 hours by default); only its SHA-256 is stored.

NOTE: the token is part of the URL, so HTTP access logs record the link. It
is worthless once used, expired or revoked.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from concord.common.errors import ConcordError, InvalidInput, NotFound
from concord.control import audit
from concord.control.auth import ProjectAccess, SessionDep
from concord.control.authorization import GrantDep
from concord.control.models import Invitation, Membership, Project, User, utcnow
from concord.control.pages import (
    FORM_CSRF_COOKIE,
    SettingsDep,
    form_csrf_token,
    form_csrf_valid,
    render,
    set_form_csrf_cookie,
    signed_in,
)
from concord.control.schemas import (
    InvitationCreated,
    InvitationIn,
    InvitationOut,
    UserCreate,
)
from concord.control.security import Passwords, new_secret, sha256_hex
from concord.control.state import get_passwords
from concord.control.users import create_user

logger = logging.getLogger(__name__)

INVITATION_TOKEN_PREFIX = "cin_"
UNUSABLE = (
    "This invitation link is invalid, was already used or has expired. "
    "Ask your project manager for a new one."
)


def create_invitation(
    session: Session, access: ProjectAccess, role: str, hours: int
) -> tuple[str, Invitation]:
    """Add an invitation to the session; return its token and row."""
    token = new_secret(INVITATION_TOKEN_PREFIX)
    row = Invitation(
        project_id=access.project.id,
        role=role,
        token_hash=sha256_hex(token),
        created_by=access.user.id,
        created_at=utcnow(),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    return token, row


def invitation_status(row: Invitation) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.used_at is not None:
        return "used"
    if row.expires_at <= utcnow():
        return "expired"
    return "pending"


def usable_invitation(session: Session, token: str) -> Invitation:
    """Return the pending invitation of ``token``; raise NotFound otherwise."""
    row = session.scalars(
        select(Invitation).where(Invitation.token_hash == sha256_hex(token))
    ).one_or_none()
    if row is None or invitation_status(row) != "pending":
        raise NotFound(UNUSABLE)
    return row


def accept_invitation(
    session: Session, passwords: Passwords, invitation: Invitation, body: UserCreate
) -> User:
    """Create the invitee's account and membership and use up the invitation."""
    user = create_user(session, passwords, body.username, body.password)
    session.add(
        Membership(
            project_id=invitation.project_id, user_id=user.id, role=invitation.role
        )
    )
    invitation.used_at = utcnow()
    invitation.used_by = user.id
    logger.info("invitation %s accepted by user %s", invitation.id, user.id)
    return user


def invitation_out(session: Session, row: Invitation) -> InvitationOut:
    creator = session.get(User, row.created_by)
    return InvitationOut(
        id=row.id,
        role=row.role,  # type: ignore[arg-type]
        created_by=creator.username if creator is not None else row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        status=invitation_status(row),  # type: ignore[arg-type]
    )


router = APIRouter(prefix="/api/projects", tags=["projects"])


@router.post("/{project_id}/invitations", status_code=201)
def invite(
    project_id: str,
    body: InvitationIn,
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    settings: SettingsDep,
) -> InvitationCreated:
    """Create a one-time invitation link (managers); it is shown only here."""
    token, row = create_invitation(
        session, grant.project, body.role, settings.invitation_hours
    )
    audit.record(
        session,
        "invitation.created",
        actor=grant.caller,
        object_type="invitation",
        object_id=row.id,
        project_id=project_id,
        address=audit.client_address(request),
        details={"role": body.role},
    )
    session.commit()
    return InvitationCreated(
        id=row.id,
        project_id=project_id,
        role=body.role,
        url=f"{settings.resolved_public_url}/invite/{token}",
        expires_at=row.expires_at,
    )


@router.get("/{project_id}/invitations")
def invitations(
    project_id: str, grant: GrantDep, session: SessionDep
) -> list[InvitationOut]:
    """List the project's invitations, newest first (never their links)."""
    rows = session.scalars(
        select(Invitation)
        .where(Invitation.project_id == project_id)
        .order_by(Invitation.created_at.desc(), Invitation.id)
    )
    return [invitation_out(session, row) for row in rows]


@router.delete("/{project_id}/invitations/{invitation_id}", status_code=204)
def revoke(
    project_id: str,
    invitation_id: str,
    request: Request,
    grant: GrantDep,
    session: SessionDep,
) -> None:
    """Revoke an invitation so its link stops working (managers)."""
    row = session.get(Invitation, invitation_id)
    if row is None or row.project_id != project_id:
        raise NotFound(
            f"Invitation '{invitation_id}' not found in this project. List them "
            f"with GET /api/projects/{project_id}/invitations."
        )
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    audit.record(
        session,
        "invitation.revoked",
        actor=grant.caller,
        object_type="invitation",
        object_id=row.id,
        project_id=project_id,
        address=audit.client_address(request),
    )
    session.commit()


pages = APIRouter(include_in_schema=False)


def _invite_form(
    request: Request,
    session: Session,
    settings: SettingsDep,
    invitation: Invitation,
    token: str,
    error: str | None = None,
    username: str = "",
    status_code: int = 200,
) -> Response:
    project = session.get(Project, invitation.project_id)
    csrf = form_csrf_token(request)
    context: dict[str, Any] = {
        "project": project,
        "role": invitation.role,
        "token": token,
        "csrf_token": csrf,
        "error": error,
        "username": username,
    }
    response = render(request, "invite.html", context, status_code=status_code)
    set_form_csrf_cookie(response, csrf, "/invite", settings)
    return response


@pages.get("/invite/{token}")
def invite_page(
    token: str, request: Request, session: SessionDep, settings: SettingsDep
) -> Response:
    """Show the form where an invited person chooses a username and password."""
    try:
        invitation = usable_invitation(session, token)
    except NotFound as exc:
        return render(request, "error.html", {"message": exc.message}, 404)
    return _invite_form(request, session, settings, invitation, token)


@pages.post("/invite/{token}")
def invite_submit(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    passwords: Annotated[Passwords, Depends(get_passwords)],
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password_again: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Create the account, add it to the project and log it in."""
    try:
        invitation = usable_invitation(session, token)
    except NotFound as exc:
        return render(request, "error.html", {"message": exc.message}, 404)
    if not form_csrf_valid(request, csrf_token):
        error = "The form expired. Enter your username and password again."
        return _invite_form(
            request, session, settings, invitation, token, error, username, 403
        )
    try:
        user = _accept(
            session, passwords, invitation, username, password, password_again
        )
    except ConcordError as exc:
        return _invite_form(
            request,
            session,
            settings,
            invitation,
            token,
            exc.message,
            username,
            exc.status,
        )
    _audit_acceptance(session, invitation, user, audit.client_address(request))
    response = signed_in(session, user, settings, "/")
    response.delete_cookie(FORM_CSRF_COOKIE, path="/invite")
    return response


def _accept(
    session: Session,
    passwords: Passwords,
    invitation: Invitation,
    username: str,
    password: str,
    password_again: str,
) -> User:
    if password != password_again:
        raise InvalidInput("The two passwords differ. Type the same password twice.")
    try:
        body = UserCreate(username=username, password=password)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0])
        raise InvalidInput(_FIELD_PROBLEMS.get(field, "Invalid form.")) from None
    return accept_invitation(session, passwords, invitation, body)


_FIELD_PROBLEMS = {
    "username": "Invalid username: use 1 to 64 letters, digits and . _ @ -",
    "password": "Invalid password: use at least 8 characters.",
}


def _audit_acceptance(
    session: Session, invitation: Invitation, user: User, address: str
) -> None:
    audit.record(
        session,
        "invitation.accepted",
        actor=user,
        object_type="invitation",
        object_id=invitation.id,
        project_id=invitation.project_id,
        address=address,
        details={"role": invitation.role},
    )
    audit.record(
        session,
        "user.created",
        actor=user,
        object_type="user",
        object_id=user.id,
        project_id=invitation.project_id,
        address=address,
        details={"username": user.username, "method": "invitation"},
    )
    audit.record(
        session,
        "member.added",
        actor=user,
        object_type="user",
        object_id=user.id,
        project_id=invitation.project_id,
        address=address,
        details={"role": invitation.role, "previous_role": None},
    )
