"""The first admin's password and the command line's saved login, at ``concord up``.

On a data folder without a saved login, ``concord up`` passes an admin
password to the control plane (``CONCORD_ADMIN_PASSWORD`` or a generated one),
which creates the first admin with it when it has no user yet. The supervisor
then logs in with it and saves the API token, so later commands need no login.
The password is shown once by the caller and never logged.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from concord.cli.client import ApiError, ControlClient
from concord.cli.credentials import SavedLogin, load_login, save_login

logger = logging.getLogger(__name__)

DEFAULT_ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class Credentials:
    """The admin login the command line uses after ``start_planes``.

    ``generated_password`` is set only when this start generated the admin's
    password, which the caller must show to the person once.
    """

    username: str
    token: str
    generated_password: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r})"


@dataclass(frozen=True)
class AdminPassword:
    value: str
    generated: bool

    def __repr__(self) -> str:
        return f"AdminPassword(generated={self.generated})"


def choose_admin_password(
    data_dir: Path, env: Mapping[str, str]
) -> AdminPassword | None:
    """Pick the password to hand to the control plane, or None when a login is saved."""
    if load_login(data_dir) is not None:
        return None
    given = env.get("CONCORD_ADMIN_PASSWORD")
    if given:
        return AdminPassword(given, generated=False)
    return AdminPassword(secrets.token_urlsafe(18), generated=True)


def bootstrap_credentials(
    data_dir: Path,
    control_url: str,
    admin_password: AdminPassword | None,
    username: str = DEFAULT_ADMIN_USERNAME,
) -> Credentials | None:
    """Reuse the saved login or log in as the admin, and save the token.

    Returns None when neither works, for example when the data folder has an
    admin whose password this process does not know; ``concord login`` fixes it.
    """
    with ControlClient(control_url) as client:
        saved = _valid_saved_login(data_dir, client)
        if saved is not None:
            if saved.control_url != control_url:
                save_login(
                    data_dir, SavedLogin(control_url, saved.username, saved.token)
                )
            return Credentials(username=saved.username, token=saved.token)
        if admin_password is None:
            return None
        try:
            token, user = client.login(username, admin_password.value)
        except ApiError as exc:
            if exc.status != 401:
                raise
            logger.warning(
                "the control plane rejected the admin password for %s; an admin "
                "existed before this start",
                username,
            )
            return None
    save_login(data_dir, SavedLogin(control_url, user.username, token))
    generated = admin_password.value if admin_password.generated else None
    return Credentials(
        username=user.username, token=token, generated_password=generated
    )


def _valid_saved_login(data_dir: Path, client: ControlClient) -> SavedLogin | None:
    saved = load_login(data_dir)
    if saved is None:
        return None
    client.token = saved.token
    try:
        client.me()
    except ApiError as exc:
        if exc.status != 401:
            raise
        logger.warning("the saved login of %s was rejected", saved.username)
        return None
    finally:
        client.token = None
    return saved
