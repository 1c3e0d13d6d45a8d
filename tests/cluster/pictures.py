"""Small images built in memory, so image tests need no image library."""

from __future__ import annotations

import base64
import struct
import zlib

Color = tuple[int, int, int]
Rect = tuple[int, int, int, int, Color]


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def png_bytes(
    width: int, height: int, background: Color = (226, 232, 240), rects: list[Rect] = ()
) -> bytes:
    """An RGB PNG of ``background`` with filled rectangles ``(x, y, w, h, color)``."""
    rows = []
    for y in range(height):
        row = bytearray(bytes(background) * width)
        for rx, ry, rw, rh, color in rects:
            if ry <= y < ry + rh:
                start, end = max(rx, 0), min(rx + rw, width)
                row[start * 3 : end * 3] = bytes(color) * (end - start)
        rows.append(b"\x00" + bytes(row))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )


def data_uri(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def jpeg_header(width: int, height: int, metadata_bytes: int = 0) -> bytes:
    """The start of a baseline JPEG: SOI, an APP1 segment of padding, then SOF0."""
    app1 = b"\xff\xe1" + struct.pack(">H", metadata_bytes + 2) + b"\x00" * metadata_bytes
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app1 + sof0 + b"\xff\xda"


def gif_header(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00"


def webp_header(width: int, height: int) -> bytes:
    """A lossy (VP8) WebP header: RIFF, the VP8 chunk and its frame size."""
    frame = b"\x00\x00\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height)
    chunk = b"VP8 " + struct.pack("<I", len(frame)) + frame
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
