"""The command line's saved login: ``<data-dir>/cli-token.json``, readable by its owner only.

The file keeps the control plane URL, the username and an API token, so that
commands after ``concord up`` or ``concord login`` need no password.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

TOKEN_FILE_NAME = "cli-token.json"


@dataclass(frozen=True)
class SavedLogin:
    control_url: str
    username: str
    token: str

    def __repr__(self) -> str:
        return (
            f"SavedLogin(control_url={self.control_url!r}, username={self.username!r})"
        )


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE_NAME


def save_login(data_dir: Path, login: SavedLogin) -> Path:
    """Write the login with mode 0600, replacing any earlier one atomically."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = token_path(data_dir)
    partial = path.with_name(path.name + ".partial")
    body = json.dumps(
        {
            "control_url": login.control_url,
            "username": login.username,
            "token": login.token,
        }
    )
    # Create the file with 0600 from the start, so the token is never readable
    # by others, not even between open and chmod.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(body)
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    logger.info("saved the login of %s to %s", login.username, path)
    return path


def load_login(data_dir: Path) -> SavedLogin | None:
    """Read the saved login, or return None when there is none or it is unreadable."""
    path = token_path(data_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SavedLogin(
            control_url=str(data["control_url"]),
            username=str(data["username"]),
            token=str(data["token"]),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning(
            "ignoring unreadable login file %s: %s", path, type(exc).__name__
        )
        return None


def forget_login(data_dir: Path) -> bool:
    """Delete the saved login; returns whether there was one."""
    try:
        token_path(data_dir).unlink()
    except FileNotFoundError:
        return False
    return True
