"""Reading the type and size of PNG, JPEG, GIF and WebP images from their headers."""

from __future__ import annotations

import struct

import pytest

from concord.cluster.images import ImageError, ImageInfo, TruncatedImage, read_image_info
from tests.cluster.pictures import gif_header, jpeg_header, png_bytes, webp_header


def test_png_size() -> None:
    assert read_image_info(png_bytes(37, 21)) == ImageInfo("image/png", 37, 21)


def test_gif_size() -> None:
    assert read_image_info(gif_header(640, 480)) == ImageInfo("image/gif", 640, 480)


def test_jpeg_size_after_metadata() -> None:
    head = jpeg_header(1920, 1080, metadata_bytes=5_000)
    assert read_image_info(head) == ImageInfo("image/jpeg", 1920, 1080)


def test_jpeg_fill_bytes_and_restart_markers() -> None:
    head = jpeg_header(8, 6)
    padded = head[:2] + b"\xff\xd0" + b"\xff" + head[2:]
    assert read_image_info(padded) == ImageInfo("image/jpeg", 8, 6)


def test_jpeg_cut_before_frame_is_truncated() -> None:
    head = jpeg_header(1920, 1080, metadata_bytes=5_000)
    with pytest.raises(TruncatedImage):
        read_image_info(head[:1_000])


def test_jpeg_without_frame_rejected() -> None:
    with pytest.raises(ImageError, match="no frame header"):
        read_image_info(b"\xff\xd8\xff\xda\x00\x02")


def test_webp_lossy_size() -> None:
    assert read_image_info(webp_header(300, 200)) == ImageInfo("image/webp", 300, 200)


def test_webp_lossless_size() -> None:
    bits = (300 - 1) | ((200 - 1) << 14)
    chunk = b"VP8L" + struct.pack("<I", 10) + b"\x2f" + struct.pack("<I", bits) + b"\x00" * 5
    head = b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
    assert read_image_info(head) == ImageInfo("image/webp", 300, 200)


def test_webp_extended_size() -> None:
    size = (4000 - 1).to_bytes(3, "little") + (3000 - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4 + size
    head = b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk
    assert read_image_info(head) == ImageInfo("image/webp", 4000, 3000)


@pytest.mark.parametrize(
    "data",
    [
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"BM\x00\x00",
        b"",
    ],
)
def test_other_formats_rejected(data: bytes) -> None:
    with pytest.raises(ImageError, match="not a PNG, JPEG, GIF or WebP"):
        read_image_info(data)


def test_empty_png_size_rejected() -> None:
    with pytest.raises(ImageError, match="empty size"):
        read_image_info(png_bytes(1, 1)[:16] + struct.pack(">II", 0, 5))
