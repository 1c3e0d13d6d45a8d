"""Limits on failed logins per account and per client address.

Failures are rows in the database, so every replica of the control plane
counts the same attempts. The window slides: an account (or address) with
``limit`` failures in the last ``window`` gets 429 with ``Retry-After`` until
the oldest of them ages out. This holds even when the password is right, so
the limit cannot be used to test passwords.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.orm import Session

from concord.common.errors import ConcordError
from concord.control.models import LoginFailure, utcnow
from concord.control.settings import ControlSettings

logger = logging.getLogger(__name__)

USERNAME_LENGTH = 64


class TooManyAttempts(ConcordError):
    """Rendered as 429 with a ``Retry-After`` header of ``retry_after`` seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many failed logins for this account or from this address. "
            f"Try again in {retry_after} seconds.",
            details={"retry_after": retry_after},
        )
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoginLimits:
    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)


def _wait_seconds(
    session: Session,
    condition: ColumnElement[bool],
    limit: int,
    window: timedelta,
    now: datetime,
) -> int:
    """Return how long until fewer than ``limit`` failures match, or 0."""
    times = list(
        session.scalars(
            select(LoginFailure.failed_at)
            .where(condition, LoginFailure.failed_at > now - window)
            .order_by(LoginFailure.failed_at)
        )
    )
    if len(times) < limit:
        return 0
    frees_at = times[len(times) - limit] + window
    return max(1, math.ceil((frees_at - now).total_seconds()))


def check_allowed(
    session: Session, limits: LoginLimits, username: str, address: str
) -> None:
    """Raise TooManyAttempts when the account or the address is over its limit."""
    now = utcnow()
    waits = (
        _wait_seconds(
            session,
            LoginFailure.username == username[:USERNAME_LENGTH],
            limits.per_account,
            limits.window,
            now,
        ),
        _wait_seconds(
            session,
            LoginFailure.address == address,
            limits.per_address,
            limits.window,
            now,
        ),
    )
    if max(waits) > 0:
        logger.warning("login attempt from %s rate-limited", address)
        raise TooManyAttempts(max(waits))


def record_failure(
    session: Session, limits: LoginLimits, username: str, address: str
) -> None:
    """Add a failure to the session and drop failures older than the window."""
    now = utcnow()
    expired = LoginFailure.failed_at <= now - limits.window
    session.execute(delete(LoginFailure).where(expired))
    session.add(
        LoginFailure(
            username=username[:USERNAME_LENGTH], address=address, failed_at=now
        )
    )


def clear_account(session: Session, username: str) -> None:
    """Forget an account's failures after a successful login."""
    session.execute(
        delete(LoginFailure).where(LoginFailure.username == username[:USERNAME_LENGTH])
    )


def limits_of(settings: ControlSettings) -> LoginLimits:
    return LoginLimits(
        per_account=settings.login_failures_per_account,
        per_address=settings.login_failures_per_address,
        window=timedelta(minutes=settings.login_window_minutes),
    )
