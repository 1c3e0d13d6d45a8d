"""Logging at the entry points: the log file and secret redaction."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from concord.cli.logs import configure_logging, redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"GET /x?token=abc HTTP/1.1" 200', '"GET /x?token=*** HTTP/1.1" 200'),
        ("/login?next=/a&password=hunter2", "/login?next=/a&password=***"),
        ("/join?join_token=s3cr3t&name=local", "/join?join_token=***&name=local"),
        ("/api/feeds/abc/progress", "/api/feeds/abc/progress"),
        ("/login?next=/feeds/f1/open", "/login?next=/feeds/f1/open"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_access_log_reaches_file_redacted(
    tmp_path: Path, restore_root_logger: None
) -> None:
    log_file = tmp_path / "logs" / "control.log"
    configure_logging(log_file)

    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/x?session=abc123", "1.1", 200
    )
    logging.getLogger("concord.test").info("plain line")
    for handler in logging.getLogger().handlers:
        handler.flush()

    text = log_file.read_text()
    assert "abc123" not in text
    assert "GET /x?session=*** HTTP/1.1" in text
    assert "concord.test: plain line" in text
