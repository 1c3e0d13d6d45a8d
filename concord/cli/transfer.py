"""Streamed imports and exports with a progress bar over bytes.

Neither direction keeps the whole file in memory: an import sends the file in
chunks as the request body, and an export writes the response body to disk
as it arrives, into a partial file that replaces the target only when the
export completed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from concord.cli.client import ClusterClient

logger = logging.getLogger(__name__)

CHUNK_BYTES = 256 * 1024


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _chunks(path: Path, progress: Progress, task: TaskID) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            progress.advance(task, len(chunk))
            yield chunk


def import_file(
    cluster: ClusterClient, dataset_id: str, path: Path, console: Console
) -> dict[str, Any]:
    """Stream a JSONL file into a dataset and return the cluster's ``ImportResult``."""
    size = path.stat().st_size
    with _progress(console) as progress:
        task = progress.add_task(f"Importing {path.name}", total=size)
        result = cluster.import_jsonl(dataset_id, _chunks(path, progress, task))
        progress.update(task, completed=size)
    logger.info("imported %s into dataset %s", path.name, dataset_id)
    return result


@dataclass(frozen=True)
class ExportResult:
    path: Path
    bytes: int
    lines: int


def export_to_file(
    cluster: ClusterClient, kind: str, object_id: str, path: Path, console: Console
) -> ExportResult:
    """Stream the JSONL export of a dataset or a feed into ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    written = 0
    lines = 0
    try:
        with (
            cluster.export(kind, object_id) as response,
            _progress(console) as progress,
        ):
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            task = progress.add_task(f"Exporting to {path.name}", total=total)
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    handle.write(chunk)
                    written += len(chunk)
                    lines += chunk.count(b"\n")
                    progress.advance(task, len(chunk))
            progress.update(task, total=written, completed=written)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    logger.info("exported %s %s to %s (%d bytes)", kind, object_id, path, written)
    return ExportResult(path=path, bytes=written, lines=lines)
