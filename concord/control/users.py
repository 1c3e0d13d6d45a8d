"""User accounts, password login, API tokens and the first administrator."""

from __future__ import annotations

import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from concord.common.errors import Conflict, Unauthorized
from concord.control.auth import AdminDep, CallerDep, SessionDep
from concord.control.models import ApiToken, User, utcnow
from concord.control.schemas import LoginIn, LoginOut, UserCreate, UserOut
from concord.control.security import API_TOKEN_PREFIX, Passwords, new_secret, sha256_hex
from concord.control.state import get_passwords

logger = logging.getLogger(__name__)

LOGIN_FAILED = "Invalid username or password"


def create_user(
    session: Session,
    passwords: Passwords,
    username: str,
    password: str,
    is_admin: bool = False,
) -> User:
    """Store a new active user; raise Conflict when the username is taken."""
    if find_user(session, username) is not None:
        raise _username_taken(username)
    user = User(
        username=username, password_hash=passwords.hash(password), is_admin=is_admin
    )
    session.add(user)
    try:
        session.commit()
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


def issue_api_token(session: Session, user: User) -> str:
    """Store a new API token for ``user`` and return it; only its hash is kept."""
    token = new_secret(API_TOKEN_PREFIX)
    session.add(ApiToken(user_id=user.id, token_hash=sha256_hex(token)))
    session.commit()
    return token


def revoke_api_token(session: Session, token_id: str) -> None:
    token = session.get(ApiToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
        session.commit()


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
    except Conflict:
        # Another replica created the admin first.
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


@router.post("/auth/login")
def login(body: LoginIn, session: SessionDep, passwords: PasswordsDep) -> LoginOut:
    """Exchange a username and password for a new API token."""
    user = authenticate(session, passwords, body.username, body.password)
    if user is None:
        raise Unauthorized(f"{LOGIN_FAILED}.")
    token = issue_api_token(session, user)
    logger.info("user %s logged in to the API", user.username)
    return LoginOut(token=token, user=user_out(user))


@router.post("/auth/logout", status_code=204)
def logout(caller: CallerDep, session: SessionDep) -> None:
    """Revoke the API token this request was sent with."""
    revoke_api_token(session, caller.token_id)


@router.get("/me")
def me(caller: CallerDep) -> UserOut:
    return user_out(caller.user)


@router.post("/users", status_code=201)
def add_user(
    body: UserCreate, _: AdminDep, session: SessionDep, passwords: PasswordsDep
) -> UserOut:
    """Create a user (admins only)."""
    user = create_user(session, passwords, body.username, body.password, body.is_admin)
    return user_out(user)


@router.get("/users")
def users(_: AdminDep, session: SessionDep) -> list[UserOut]:
    return [user_out(user) for user in list_users(session)]
