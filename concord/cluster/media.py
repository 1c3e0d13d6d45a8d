"""Task images: where a task's ``image`` points, its size, and serving it.

A task names its image either as a base64 data URI
(``data:image/png;base64,...``) or as a file name relative to the media folder
(``CONCORD_CLUSTER_MEDIA_DIR``). The cluster never fetches a URL: it may run
without internet access, and a task must not make it send requests elsewhere.
The browser always loads the image from the cluster's media route, so the page
needs no other host either.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from concord.cluster.images import HEAD_BYTES, ImageError, ImageInfo, TruncatedImage
from concord.cluster.images import read_image_info
from concord.cluster.models import Example, Feed
from concord.common.errors import NotFound

logger = logging.getLogger(__name__)

# A JPEG whose frame header is not in the first bytes is read whole, up to this size.
MAX_IMAGE_BYTES = 64 * 1024 * 1024
DATA_URI = re.compile(r"data:(?P<type>[^;,]*)(?P<params>(;[^;,]*)*?);base64,", re.I)
URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
RESPONSE_HEADERS = {
    "Cache-Control": "private, max-age=86400",
    "X-Content-Type-Options": "nosniff",
    # An image opened on its own must not run anything, whatever its bytes.
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


class MediaError(ValueError):
    """A task image that cannot be read. The message names the cause and the fix."""


@dataclass(frozen=True)
class TaskImage:
    info: ImageInfo
    data: bytes | None = None
    path: Path | None = None


def load_task_image(media_dir: Path | None, value: Any) -> TaskImage:
    """Read the image a task's ``image`` value names, checking its type and size."""
    if not isinstance(value, str) or not value:
        raise MediaError("the task has no 'image': give a data URI or a file name")
    if value[:5].lower() == "data:":
        return _from_data_uri(value)
    if URI_SCHEME.match(value) or value.startswith("//"):
        raise MediaError(
            "the task's image is a URL, and the cluster does not fetch URLs; "
            "store the file in the media folder (CONCORD_CLUSTER_MEDIA_DIR) and "
            "give its name, or embed it as a data URI"
        )
    return _from_file(media_dir, value)


def _from_data_uri(value: str) -> TaskImage:
    match = DATA_URI.match(value)
    if match is None:
        raise MediaError("the task's image data URI is not base64: use data:<type>;base64,")
    try:
        data = base64.b64decode(value[match.end() :], validate=True)
    except (binascii.Error, ValueError):
        raise MediaError("the task's image data URI holds invalid base64") from None
    return TaskImage(info=_info(data, "the data URI"), data=data)


def media_file(media_dir: Path | None, name: str) -> Path:
    """Return the file ``name`` inside ``media_dir``, never a path outside it."""
    if media_dir is None:
        raise MediaError(
            f"the task names the image file {name!r}, but this cluster has no media "
            "folder: set CONCORD_CLUSTER_MEDIA_DIR"
        )
    if "\x00" in name or "\\" in name or name.startswith("/"):
        raise MediaError(f"invalid image file name {name!r}: use a relative path with '/'")
    root = media_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise MediaError(f"the image file name {name!r} points outside the media folder")
    if not path.is_file():
        raise MediaError(f"image file {name!r} not found in the media folder")
    return path


def _from_file(media_dir: Path | None, name: str) -> TaskImage:
    path = media_file(media_dir, name)
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
        try:
            info = read_image_info(head)
        except TruncatedImage:
            info = _info(head + handle.read(MAX_IMAGE_BYTES), f"file {name!r}")
        except ImageError as exc:
            raise MediaError(f"file {name!r} is not a usable image: {exc}") from None
    return TaskImage(info=info, path=path)


def _info(data: bytes, what: str) -> ImageInfo:
    try:
        return read_image_info(data)
    except ImageError as exc:
        raise MediaError(f"{what} is not a usable image: {exc}") from None


def add_image_size(media_dir: Path | None, task: dict[str, Any]) -> bool:
    """Set ``width`` and ``height`` on ``task`` from its image, if it has none.

    Returns whether the task changed. An unreadable image leaves the task as
    it is: the page then shows why, and boxes on it are rejected.

    NOTE: the caller stores the size on the example, so a file later replaced
    by one of another size keeps the first size until the dataset is imported
    again.
    """
    if isinstance(task.get("width"), int) and isinstance(task.get("height"), int):
        return False
    try:
        info = load_task_image(media_dir, task.get("image")).info
    except MediaError as exc:
        logger.warning("could not read a task image: %s", exc)
        return False
    task["width"], task["height"] = info.width, info.height
    return True


def find_task_image(
    session: Session, feed: Feed, task_hash: int, media_dir: Path | None
) -> TaskImage:
    example = session.scalar(
        select(Example).where(
            Example.dataset_id == feed.dataset_id, Example.task_hash == task_hash
        )
    )
    if example is None:
        raise NotFound(
            f"Task {task_hash} not found in feed {feed.id!r}.",
            details={"task_hash": task_hash},
        )
    try:
        return load_task_image(media_dir, example.task.get("image"))
    except MediaError as exc:
        raise NotFound(
            f"The image of task {task_hash} cannot be served: {exc}.",
            details={"task_hash": task_hash},
        ) from None


def image_response(image: TaskImage) -> Response:
    """Build the response for an image, typed by its bytes, not by what a task claims."""
    headers = dict(RESPONSE_HEADERS)
    if image.path is not None:
        return FileResponse(image.path, media_type=image.info.media_type, headers=headers)
    return Response(image.data, media_type=image.info.media_type, headers=headers)
