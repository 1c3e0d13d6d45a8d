"""Image type and size from the first bytes of a PNG, JPEG, GIF or WebP file.

Boxes drawn on an image are checked against its size in pixels, and the
media route sends the type it finds here rather than the one a task claims.
Only these four raster formats are recognised: SVG can carry scripts, so the
cluster never serves it as an image.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Enough for every format here except a JPEG whose metadata segments come
# before its frame header. For that one ``TruncatedImage`` is raised, and the
# caller reads more of the file.
HEAD_BYTES = 64 * 1024

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers: C0 to CF except C4 (Huffman tables), C8
# (reserved) and CC (arithmetic coding conditioning).
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
JPEG_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})


class ImageError(ValueError):
    """Bytes that are not a readable PNG, JPEG, GIF or WebP image."""


class TruncatedImage(ImageError):
    """The bytes given end before the image header does; read more of the file."""


@dataclass(frozen=True)
class ImageInfo:
    media_type: str
    width: int
    height: int


def read_image_info(head: bytes) -> ImageInfo:
    """Return the type and pixel size of the image that starts with ``head``."""
    if head.startswith(PNG_SIGNATURE):
        return _png(head)
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _gif(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(head)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(head)
    raise ImageError("not a PNG, JPEG, GIF or WebP image")


def _need(head: bytes, length: int) -> None:
    if len(head) < length:
        raise TruncatedImage(f"the image header needs {length} bytes, got {len(head)}")


def _checked(media_type: str, width: int, height: int) -> ImageInfo:
    if width <= 0 or height <= 0:
        raise ImageError(f"the {media_type} header gives an empty size {width}x{height}")
    return ImageInfo(media_type, width, height)


def _png(head: bytes) -> ImageInfo:
    _need(head, 24)
    if head[12:16] != b"IHDR":
        raise ImageError("the PNG file does not start with an IHDR chunk")
    width, height = struct.unpack(">II", head[16:24])
    return _checked("image/png", width, height)


def _gif(head: bytes) -> ImageInfo:
    _need(head, 10)
    width, height = struct.unpack("<HH", head[6:10])
    return _checked("image/gif", width, height)


def _jpeg(head: bytes) -> ImageInfo:
    position = 2
    while True:
        _need(head, position + 2)
        if head[position] != 0xFF:
            raise ImageError(f"no JPEG marker at byte {position}")
        marker = head[position + 1]
        if marker == 0xFF:
            # Fill bytes may pad a marker.
            position += 1
            continue
        if marker in JPEG_STANDALONE_MARKERS:
            position += 2
            continue
        if marker in (0xD9, 0xDA):
            raise ImageError("the JPEG file has no frame header before its image data")
        _need(head, position + 4)
        (length,) = struct.unpack(">H", head[position + 2 : position + 4])
        if marker in JPEG_FRAME_MARKERS:
            _need(head, position + 9)
            height, width = struct.unpack(">HH", head[position + 5 : position + 9])
            return _checked("image/jpeg", width, height)
        position += 2 + length


def _webp(head: bytes) -> ImageInfo:
    _need(head, 30)
    chunk = head[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return _checked("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", head[21:25])
        return _checked("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return _checked("image/webp", width, height)
    raise ImageError(f"unknown WebP chunk {chunk!r}")
