"""User accounts: password login, deactivation, password changes and the
first administrator."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from concord.common.errors import Conflict, NotFound, Unauthorized
from concord.control import audit, throttle
from concord.control.auth import SessionDep
from concord.control.authorization import Grant, GrantDep
from concord.control.models import ApiToken, User, WebSession, utcnow
from concord.control.schemas import (
    LoginIn,
    LoginOut,
    PasswordChange,
    UserCreate,
    UserOut,
)
from concord.control.security import Passwords
from concord.control.settings import ControlSettings
from concord.control.state import get_passwords, get_settings
from concord.control.tokens import issue_api_token, revoke_api_token

logger = logging.getLogger(__name__)

LOGIN_FAILED = "Invalid username or password"


def create_user(
    session: Session,
    passwords: Passwords,
    username: str,
    password: str,
    is_admin: bool = False,
) -> User:
    """Add a new active user to the session; raise Conflict when the username
    is taken. The caller commits."""
    if find_user(session, username) is not None:
        raise _username_taken(username)
    user = User(
        username=username, password_hash=passwords.hash(password), is_admin=is_admin
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        # Another request stored the same username after our check.
        session.rollback()
        raise _username_taken(username) from None
    logger.info("created user %s (admin: %s)", user.id, is_admin)
    return user


def _username_taken(username: str) -> Conflict:
    return Conflict(
        f"A user named '{username}' already exists. Choose another username.",
        details={"username": username},
    )


def find_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username == username)).one_or_none()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def authenticate(
    session: Session, passwords: Passwords, username: str, password: str
) -> User | None:
    """Return the active user with these credentials, or None.

    Unknown and inactive users cost the same hashing time as a wrong password.
    """
    user = find_user(session, username)
    if user is None or not user.active:
        passwords.verify_decoy(password)
        return None
    if not passwords.verify(user.password_hash, password):
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash(password)
        session.commit()
    return user


def password_login(
    session: Session,
    passwords: Passwords,
    settings: ControlSettings,
    credentials: LoginIn,
    address: str,
) -> User:
    """Check a username and password under the login limits, and audit the try.

    Raises TooManyAttempts over the limits and Unauthorized with the same
    message whether the username or the password was wrong.
    """
    limits = throttle.limits_of(settings)
    throttle.check_allowed(session, limits, credentials.username, address)
    user = authenticate(session, passwords, credentials.username, credentials.password)
    if user is None:
        throttle.record_failure(session, limits, credentials.username, address)
        audit.record(
            session,
            "login.failed",
            actor_name=credentials.username[: throttle.USERNAME_LENGTH],
            address=address,
        )
        session.commit()
        logger.info("failed login from %s", address)
        raise Unauthorized(f"{LOGIN_FAILED}.")
    throttle.clear_account(session, user.username)
    return user


def end_all_sessions(
    session: Session, user: User, keep_token_id: str | None = None
) -> None:
    """End the user's browser sessions and revoke their API tokens, except
    ``keep_token_id``; the caller commits."""
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    tokens = update(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)
    )
    if keep_token_id is not None:
        tokens = tokens.where(ApiToken.id != keep_token_id)
    session.execute(tokens.values(revoked_at=utcnow()))


def _active_admins(session: Session) -> int:
    query = select(func.count()).where(User.is_admin, User.active)
    return session.scalar(query.select_from(User)) or 0


def set_active(session: Session, user: User, active: bool) -> None:
    """Deactivate (ending every session and token at once) or reactivate a user.

    The caller commits, so the change and its audit entry are stored together.
    """
    if not active and user.is_admin and user.active and _active_admins(session) <= 1:
        raise Conflict(
            f"User '{user.username}' is the last active administrator. Make "
            "another user an admin before deactivating this one.",
            details={"user_id": user.id},
        )
    if not active:
        end_all_sessions(session, user)
    user.active = active


def bootstrap_admin(
    session: Session, passwords: Passwords, username: str, password: str | None
) -> str | None:
    """Create the first administrator when there is no user at all.

    Returns the generated password when ``password`` was None and an admin was
    created, else None. The caller shows it once; it is stored only hashed.
    """
    if session.scalar(select(func.count()).select_from(User)):
        return None
    generated = None
    if password is None:
        generated = password = secrets.token_urlsafe(18)
    try:
        create_user(session, passwords, username, password, is_admin=True)
        session.commit()
    except (Conflict, IntegrityError):
        # Another replica created the admin first.
        session.rollback()
        return None
    logger.info("created the first administrator account")
    return generated


def admin_banner(username: str, password: str) -> str:
    """Return the terminal banner that shows a generated admin password once."""
    rule = "=" * 64
    return (
        f"\n{rule}\n"
        "  Concord control plane: first administrator created\n"
        f"  username: {username}\n"
        f"  password: {password}\n"
        "  This password is shown once: store it now. To choose it yourself,\n"
        "  set CONCORD_ADMIN_PASSWORD before the first start.\n"
        f"{rule}\n\n"
    )


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id, username=user.username, is_admin=user.is_admin, active=user.active
    )


router = APIRouter(prefix="/api", tags=["users"])
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
SettingsDep = Annotated[ControlSettings, Depends(get_settings)]


@router.post("/auth/login")
def login(
    body: LoginIn,
    request: Request,
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
) -> LoginOut:
    """Exchange a username and password for a new API token."""
    address = audit.client_address(request)
    user = password_login(session, passwords, settings, body, address)
    token, row = issue_api_token(session, user, "login")
    audit.record(
        session,
        "login",
        actor=user,
        object_type="api_token",
        object_id=row.id,
        address=address,
        details={"method": "password", "via": "api"},
    )
    session.commit()
    logger.info("user %s logged in to the API", user.username)
    return LoginOut(token=token, user=user_out(user))


@router.post("/auth/logout", status_code=204)
def logout(request: Request, grant: GrantDep, session: SessionDep) -> None:
    """Revoke the API token this request was sent with."""
    assert grant.token_id is not None
    revoke_api_token(session, grant.token_id)
    audit.record(
        session,
        "logout",
        actor=grant.caller,
        object_type="api_token",
        object_id=grant.token_id,
        address=audit.client_address(request),
    )
    session.commit()


@router.get("/me")
def me(grant: GrantDep) -> UserOut:
    return user_out(grant.caller)


@router.put("/me/password", status_code=204)
def put_password(
    body: PasswordChange,
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    passwords: PasswordsDep,
    settings: SettingsDep,
) -> None:
    """Change the caller's password. Every other session and API token of theirs
    ends; the token of this request keeps working."""
    user = grant.caller
    address = audit.client_address(request)
    credentials = LoginIn(username=user.username, password=body.current_password)
    password_login(session, passwords, settings, credentials, address)
    user.password_hash = passwords.hash(body.new_password)
    end_all_sessions(session, user, keep_token_id=grant.token_id)
    audit.record(
        session,
        "user.password_changed",
        actor=user,
        object_type="user",
        object_id=user.id,
        address=address,
    )
    session.commit()


@router.post("/users", status_code=201)
def add_user(
    body: UserCreate,
    request: Request,
    grant: GrantDep,
    session: SessionDep,
    passwords: PasswordsDep,
) -> UserOut:
    """Create a user (admins only)."""
    user = create_user(session, passwords, body.username, body.password, body.is_admin)
    audit.record(
        session,
        "user.created",
        actor=grant.caller,
        object_type="user",
        object_id=user.id,
        address=audit.client_address(request),
        details={"username": user.username, "is_admin": user.is_admin},
    )
    session.commit()
    return user_out(user)


@router.get("/users")
def users(grant: GrantDep, session: SessionDep) -> list[UserOut]:
    return [user_out(user) for user in list_users(session)]


def _user_or_404(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User '{user_id}' not found. List users with GET /api/users.")
    return user


def _set_active_route(
    request: Request, grant: Grant, session: Session, user_id: str, active: bool
) -> UserOut:
    user = _user_or_404(session, user_id)
    set_active(session, user, active)
    audit.record(
        session,
        "user.reactivated" if active else "user.deactivated",
        actor=grant.caller,
        object_type="user",
        object_id=user.id,
        address=audit.client_address(request),
        details={"username": user.username},
    )
    session.commit()
    logger.info("user %s active: %s", user.id, active)
    return user_out(user)


@router.post("/users/{user_id}/deactivate")
def deactivate(
    user_id: str, request: Request, grant: GrantDep, session: SessionDep
) -> UserOut:
    """Deactivate a user: their sessions and API tokens stop working at once."""
    return _set_active_route(request, grant, session, user_id, active=False)


@router.post("/users/{user_id}/reactivate")
def reactivate(
    user_id: str, request: Request, grant: GrantDep, session: SessionDep
) -> UserOut:
    """Let a deactivated user log in again; their old tokens stay revoked."""
    return _set_active_route(request, grant, session, user_id, active=True)
