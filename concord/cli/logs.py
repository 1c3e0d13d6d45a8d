"""Logging setup for the entry points: stderr plus a rotating file per plane.

Library modules only create loggers; this module is the one place that
attaches handlers, and only the serve commands and the command line call it.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5

# Query parameters whose values are secrets. Tokens travel in headers and
# bodies, which are never logged, but a hand-typed URL may still carry one.
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:[\w-]*token|password|secret|session)[\w-]*=)[^&\s\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Replace the values of secret-looking query parameters with ``***``."""
    return _SECRET_QUERY.sub(r"\g<key>***", text)


class RedactSecrets(logging.Filter):
    """Rewrite a record's message when it contains a secret-looking query parameter.

    Uvicorn's access log formats the full request path into its message, and
    this filter keeps ``?token=...`` style values out of every handler.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


def configure_logging(log_file: Path | None, level: int = logging.INFO) -> None:
    """Send every logger to stderr and, when given, to ``log_file``."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    formatter = logging.Formatter(LOG_FORMAT)
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(
                log_file,
                maxBytes=LOG_FILE_BYTES,
                backupCount=LOG_FILE_BACKUPS,
                encoding="utf-8",
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactSecrets())
        root.addHandler(handler)
    # Alembic lists its plugins at INFO on every start, which buries the news.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Uvicorn's loggers must reach the root handlers rather than their own.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.setLevel(logging.NOTSET)
