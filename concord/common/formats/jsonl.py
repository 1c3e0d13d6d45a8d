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


class LineSplitter:
    """Turn byte chunks into numbered lines, keeping only the unfinished tail."""

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self.line_number = 0
        self._buffer = b""
        self._started = False

    def feed(self, chunk: bytes) -> list[tuple[int, bytes]]:
        self._buffer += chunk
        if not self._started:
            # A byte order mark may arrive split over several small chunks.
            if len(self._buffer) < len(BOM):
                return []
            self._drop_bom()
        *complete, self._buffer = self._buffer.split(b"\n")
        lines = []
        for raw in complete:
            self.line_number += 1
            lines.append((self.line_number, raw))
        if len(self._buffer) > self.max_line_bytes:
            raise LineTooLong(self.line_number + 1, self.max_line_bytes)
        return lines

    def _drop_bom(self) -> None:
        self._started = True
        if self._buffer.startswith(BOM):
            self._buffer = self._buffer[len(BOM) :]

    def finish(self) -> list[tuple[int, bytes]]:
        if not self._started:
            self._drop_bom()
        if not self._buffer:
            return []
        self.line_number += 1
        return [(self.line_number, self._buffer)]


def split_lines(
    chunks: Iterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` from byte chunks, without the newline."""
    splitter = LineSplitter(max_line_bytes)
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.finish()


async def asplit_lines(
    chunks: AsyncIterable[bytes], max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> AsyncIterator[tuple[int, bytes]]:
    """Yield numbered lines from an asynchronous body, as ``split_lines`` does."""
    splitter = LineSplitter(max_line_bytes)
    async for chunk in chunks:
        for line in splitter.feed(chunk):
            yield line
    for line in splitter.finish():
        yield line


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
