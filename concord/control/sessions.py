"""Browser login sessions, kept server-side.

The browser keeps a random value in the ``concord_control`` cookie. The
database stores its SHA-256, the user, the expiry and the CSRF token that
forms of that session must send back.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from concord.control.models import User, WebSession, utcnow
from concord.control.security import new_secret, sha256_hex

logger = logging.getLogger(__name__)

COOKIE_NAME = "concord_control"


@dataclass(frozen=True)
class BrowserSession:
    """A live session: its row and its user."""

    row: WebSession
    user: User

    @property
    def csrf_token(self) -> str:
        return self.row.csrf_token


def start_session(session: Session, user: User, hours: int) -> str:
    """Store a new session for ``user`` and return the cookie value."""
    now = utcnow()
    # Expired sessions of this user are of no further use.
    session.execute(
        delete(WebSession).where(
            WebSession.user_id == user.id, WebSession.expires_at <= now
        )
    )
    cookie_value = new_secret()
    session.add(
        WebSession(
            id=sha256_hex(cookie_value),
            user_id=user.id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    session.commit()
    return cookie_value


def load_session(session: Session, cookie_value: str | None) -> BrowserSession | None:
    """Return the live session behind a cookie value, or None."""
    if not cookie_value:
        return None
    row = session.get(WebSession, sha256_hex(cookie_value))
    if row is None:
        return None
    if row.expires_at <= utcnow():
        session.delete(row)
        session.commit()
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return BrowserSession(row=row, user=user)


def end_session(session: Session, browser_session: BrowserSession) -> None:
    session.delete(browser_session.row)
    session.commit()
