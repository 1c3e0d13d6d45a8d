"""Streaming JSONL: line numbers across chunk borders, BOM, limits, errors."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from concord.common.formats.jsonl import (
    JsonlError,
    LineTooLong,
    asplit_lines,
    read_jsonl,
    split_lines,
)


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 3, 7, 1000])
def test_lines_survive_any_chunking(size: int) -> None:
    data = b'{"a": 1}\n\n{"b": "\xc3\xa9"}\n{"c": 3}'
    records = list(read_jsonl(chunked(data, size)))
    assert records == [(1, {"a": 1}), (3, {"b": "\u00e9"}), (4, {"c": 3})]


def test_bom_is_dropped() -> None:
    data = b'\xef\xbb\xbf{"a": 1}\n'
    assert list(read_jsonl([data[:2], data[2:]])) == [(1, {"a": 1})]


def test_invalid_json_names_line() -> None:
    with pytest.raises(JsonlError) as caught:
        list(read_jsonl([b'{"a": 1}\n{"a": \n']))
    assert caught.value.line == 2
    assert caught.value.message.startswith("Line 2: invalid JSON")


def test_invalid_utf8_names_byte() -> None:
    with pytest.raises(JsonlError) as caught:
        list(read_jsonl([b'{"a": "caf\xe9"}\n']))
    assert "not valid UTF-8" in caught.value.reason
    assert "0xe9" in caught.value.reason


def test_line_too_long() -> None:
    with pytest.raises(LineTooLong):
        list(split_lines([b"x" * 50, b"y" * 50], max_line_bytes=64))


def test_async_twin_matches() -> None:
    data = b"one\ntwo\r\nthree"

    async def collect() -> list[tuple[int, bytes]]:
        async def chunks():
            for part in chunked(data, 2):
                yield part

        return [line async for line in asplit_lines(chunks())]

    # A fresh thread has no running event loop, whatever earlier tests left behind.
    with ThreadPoolExecutor(max_workers=1) as pool:
        collected = pool.submit(asyncio.run, collect()).result()
    assert collected == list(split_lines([data]))
    assert list(split_lines([data])) == [(1, b"one"), (2, b"two\r"), (3, b"three")]
