"""``concord demo --no-serve`` end to end, and the privacy boundary it must keep.

The demo runs once as a real process on a copy of the demo data with a canary
line planted in the raw titles. The tests then read the control plane's
database files and logs as bytes. No imported text of 20 or more characters,
and not the canary, may appear there. The cluster's database must contain the
canary, which shows that the search can find a text at all.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from concord.cli.demo import (
    DEMO_DATA_DIR,
    FEED_NAME,
    GOLD_DATASET,
    MULTI_ANNOTATOR_FILE,
    RAW_TITLES_FILE,
)
from concord.cli.supervisor import free_port

pytestmark = pytest.mark.e2e

MIN_TEXT_CHARS = 20
DEMO_SECONDS = 300


@dataclass(frozen=True)
class DemoRun:
    data_dir: Path
    source_dir: Path
    canary: str
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    root = tmp_path_factory.mktemp("demo")
    source_dir = root / "data"
    shutil.copytree(DEMO_DATA_DIR, source_dir)
    canary = f"CANARY-{uuid.uuid4()} the quick canary sentence"
    raw = source_dir / RAW_TITLES_FILE
    # First line, so the scripted annotators answer it too.
    raw.write_bytes(json.dumps({"text": canary}).encode() + b"\n" + raw.read_bytes())
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CONCORD_")
    }
    env["COLUMNS"] = "160"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "concord",
            "demo",
            "--no-serve",
            "--data-dir",
            str(root / "run"),
            "--control-port",
            str(free_port()),
            "--cluster-port",
            str(free_port()),
            "--demo-data",
            str(source_dir),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=DEMO_SECONDS,
    )
    return DemoRun(
        root / "run",
        source_dir,
        canary,
        result.returncode,
        result.stdout,
        result.stderr,
    )


def imported_texts(source_dir: Path) -> set[str]:
    texts = set()
    for name in (MULTI_ANNOTATOR_FILE, RAW_TITLES_FILE):
        with (source_dir / name).open(encoding="utf-8") as handle:
            for line in handle:
                text = json.loads(line).get("text")
                if isinstance(text, str) and len(text) >= MIN_TEXT_CHARS:
                    texts.add(text)
    return texts


def encodings(text: str) -> list[bytes]:
    """The byte forms a text could take in a database or a log line."""
    return [
        text.encode("utf-8"),
        json.dumps(text)[1:-1].encode("ascii"),
        json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8"),
    ]


def read_all(paths: list[Path]) -> bytes:
    return b"\n".join(path.read_bytes() for path in paths)


def test_demo_exits_zero(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, demo_run.stdout + demo_run.stderr


def test_demo_prints_each_step(demo_run: DemoRun) -> None:
    out = demo_run.stdout

    assert "Read 3372 lines: 117 examples added" in out
    assert re.search(r"│ annotators\s+│ 42 ", out)
    assert "Krippendorff's alpha" in out
    assert "mean Cohen's kappa" in out
    assert re.search(r"items used\s+│ \d+", out)
    assert "and 32 more annotators" in out
    assert re.search(r"Gold dataset pydata-ams-2023-gold \(\w+\): \d+ gold items", out)
    assert re.search(r"\d+ conflicts to review", out)
    assert (
        "scripted annotators (not people) are now answering through the http api"
        in out.lower()
    )
    assert "Feed docs-triage: 60 of 831 examples done (overlap 2)" in out
    assert "120 answers" in out
    assert re.search(r"Open http://127\.0\.0\.1:\d+/feeds/\w+/open", out)
    assert re.search(r"sign in as reviewer / \S+", out)
    assert "Stopped both planes (--no-serve)." in out


def test_demo_exports(demo_run: DemoRun) -> None:
    exports = demo_run.data_dir / "exports"
    feed_lines = (exports / f"{FEED_NAME}.jsonl").read_text().splitlines()
    gold_lines = (exports / f"{GOLD_DATASET}.jsonl").read_text().splitlines()
    gold_match = re.search(r": (\d+) gold items", demo_run.stdout)
    assert gold_match is not None
    gold_items = int(gold_match.group(1))

    assert len(feed_lines) == 120
    assert {json.loads(line)["_annotator_id"] for line in feed_lines} == {
        "annotator1",
        "annotator2",
        "annotator3",
    }
    assert len(gold_lines) == gold_items
    assert (demo_run.data_dir / ".concord-demo").is_file()


def test_control_plane_keeps_no_text(demo_run: DemoRun) -> None:
    control_files = sorted(demo_run.data_dir.glob("control.db*")) + sorted(
        (demo_run.data_dir / "logs").glob("control*")
    )
    names = {path.name for path in control_files}
    haystack = read_all(control_files)
    texts = imported_texts(demo_run.source_dir)

    leaked = [
        text for text in texts if any(form in haystack for form in encodings(text))
    ]

    assert {"control.db", "control.log"} <= names
    assert len(texts) > 800
    assert demo_run.canary in texts
    assert leaked == []
    assert b"CANARY-" not in haystack


def test_cluster_keeps_the_canary(demo_run: DemoRun) -> None:
    cluster_db = read_all(sorted(demo_run.data_dir.glob("cluster.db*")))

    assert demo_run.canary.encode() in cluster_db


def test_logs_keep_no_password(demo_run: DemoRun) -> None:
    admin = re.search(r"Admin login: admin / (\S+)", demo_run.stdout)
    person = re.search(r"sign in as reviewer / (\S+)", demo_run.stdout)
    logs = read_all(sorted((demo_run.data_dir / "logs").iterdir()))

    assert admin is not None and person is not None
    assert admin.group(1).encode() not in logs
    assert person.group(1).encode() not in logs
