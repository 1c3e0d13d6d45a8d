"""Load benchmark: N scripted annotators asking for tasks and answering them.

Usage (from the repository root):

    python -m bench.load --annotators 50 200 1000 --setups sqlite-1 postgresql-1 postgresql-3

Each setup is a database and a replica count: ``sqlite-1`` is one replica on a
SQLite file, ``postgresql-N`` is N replicas on one throwaway PostgreSQL server
behind nginx (when N > 1). Every run starts from an empty database with a
fresh feed (binary interface, overlap 2) over texts from the shared data
folder, and lasts ``--seconds`` or until the feed is complete. The report
gives answers per second, the latency of every request (next and answers)
at p50, p95 and p99, and the peak resident memory of each server process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.cluster.conftest import Signer
from tests.e2e.fleet import Fleet, start_fleet
from tests.e2e.load import Annotator, Ledger, run_annotators
from tests.e2e.test_concurrency import PROJECT, create_feed
from tests.postgres import PostgresServer

logger = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCE = "raw-reddit-cooking-10k/reddit_r_cooking_sample.jsonl"


def peak_rss_mb(pid: int) -> float:
    """Return the peak resident set size (VmHWM) of process ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def run_one(
    setup: str,
    annotators: int,
    examples: int,
    seconds: float,
    server: PostgresServer | None,
    folder: Path,
) -> dict[str, object]:
    kind, replicas = setup.split("-")
    database_url = server.create_database() if kind == "postgresql" and server else None
    signer = Signer(key=Ed25519PrivateKey.generate(), cluster_id="bench")
    fleet: Fleet = start_fleet(folder / f"{setup}-{annotators}", database_url, int(replicas), signer)
    try:
        source = DEFAULT_DATA / SOURCE
        body = b"".join(source.open("rb").readlines()[:examples])
        feed_id = create_feed(fleet.url, signer, body)
        ledger = Ledger()
        sessions = [
            Annotator(
                f"annotator{index}",
                fleet.url,
                feed_id,
                (lambda t: lambda: t)(
                    signer.token(project=PROJECT, role="annotator",
                                 user=f"annotator{index}", lifetime=3600)
                ),
                ledger,
            )
            for index in range(annotators)
        ]
        started = time.monotonic()
        stop = threading.Event()
        threads = run_annotators(sessions, seconds, stop)
        for thread in threads:
            thread.join(seconds + 60)
        elapsed = time.monotonic() - started
        answers = len(ledger.acknowledged)
        result = {
            "setup": setup,
            "annotators": annotators,
            "answers": answers,
            "seconds": round(elapsed, 1),
            "answers_per_second": round(answers / elapsed, 1),
            "requests": len(ledger.latencies),
            "errors": ledger.errors,
            "p50_ms": round(percentile(ledger.latencies, 0.50), 1),
            "p95_ms": round(percentile(ledger.latencies, 0.95), 1),
            "p99_ms": round(percentile(ledger.latencies, 0.99), 1),
            "server_peak_rss_mb": [round(peak_rss_mb(pid), 1) for pid in fleet.pids()],
        }
    finally:
        fleet.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotators", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument(
        "--setups", nargs="+", default=["sqlite-1", "postgresql-1", "postgresql-3"]
    )
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=60.0)
    options = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    needs_postgres = any(setup.startswith("postgresql") for setup in options.setups)
    server = PostgresServer.start() if needs_postgres else None
    try:
        with tempfile.TemporaryDirectory(prefix="concord-bench-") as folder:
            for setup in options.setups:
                for annotators in options.annotators:
                    result = run_one(
                        setup, annotators, options.examples, options.seconds, server,
                        Path(folder),
                    )
                    print(json.dumps(result), flush=True)
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
