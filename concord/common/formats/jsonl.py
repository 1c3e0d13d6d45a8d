"""Streaming JSON Lines: one record per line, read and written without holding the file.

The reader takes an iterable of byte chunks (a file, an HTTP request body) and
yields ``(line_number, record)`` pairs, so a 10 GB file costs one line of memory.
A line that is not valid UTF-8 or not valid JSON raises ``JsonlError`` with its
line number and the reason. Blank lines are skipped; a UTF-8 byte order mark at
the start of the file is dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, BinaryIO

import orjson

from concord.common.errors import InvalidInput, PayloadTooLarge

BOM = b"\xef\xbb\xbf"
# A single line larger than this is rejected before it is parsed.
DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024


class JsonlError(InvalidInput):
    """A line that could not be read. ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(
            f"Line {line}: {reason}. Fix that line and import the file again; "
            "nothing from this import was stored.",
            details={"line": line, "reason": reason},
        )
        self.line = line
        self.reason = reason


class LineTooLong(PayloadTooLarge):
    def __init__(self, line: int, limit: int) -> None:
        super().__init__(
            f"Line {line} is longer than {limit} bytes. Split the record or raise "
            "the line limit; nothing from this import was stored.",
            details={"line": line, "limit_bytes": limit},
        )


def split_lines(
    chunks: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` from byte chunks, without the newline."""
    buffer = b""
    line_number = 0
    first = True
    for chunk in chunks:
        if first and chunk:
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
            first = False
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            line_number += 1
            yield line_number, raw
        if len(buffer) > max_line_bytes:
            raise LineTooLong(line_number + 1, max_line_bytes)
    if buffer:
        yield line_number + 1, buffer


async def asplit_lines(
    chunks: AsyncIterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> AsyncIterator[tuple[int, bytes]]:
    """The asynchronous twin of ``split_lines`` for request bodies."""
    buffer = b""
    line_number = 0
    first = True
    async for chunk in chunks:
        if first and chunk:
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
            first = False
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for raw in complete:
            line_number += 1
            yield line_number, raw
        if len(buffer) > max_line_bytes:
            raise LineTooLong(line_number + 1, max_line_bytes)
    if buffer:
        yield line_number + 1, buffer


def parse_line(line_number: int, raw: bytes) -> Any | None:
    """Decode one line. Returns ``None`` for a blank line."""
    stripped = raw.strip()
    if not stripped:
        return None
    try:
        stripped.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonlError(
            line_number,
            f"not valid UTF-8 (byte {exc.start + 1} is {stripped[exc.start]:#04x}); "
            "save the file as UTF-8",
        ) from None
    try:
        return orjson.loads(stripped)
    except orjson.JSONDecodeError as exc:
        raise JsonlError(line_number, f"invalid JSON ({exc})") from None


def read_jsonl(
    chunks: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, Any]]:
    for line_number, raw in split_lines(chunks, max_line_bytes):
        record = parse_line(line_number, raw)
        if record is not None:
            yield line_number, record


def iter_file_chunks(handle: BinaryIO, size: int = 1 << 16) -> Iterator[bytes]:
    while chunk := handle.read(size):
        yield chunk


def dump_line(record: Any) -> bytes:
    return orjson.dumps(record) + b"\n"
