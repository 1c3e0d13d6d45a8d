"""The scripted annotators of ``tests.e2e.load`` as a process of their own.

A multi-host test runs this module inside a network namespace with ``ip
netns exec``, so its requests travel over the test network and never leave
the namespaces. Subcommands:

- ``wait URL...``: wait until each server's ``/api/health`` returns 200, and
  until a cluster (a server whose health has ``joined``) has joined.
- ``run``: through the control plane, create a project, annotators and a
  feed on the cluster, then let the annotators answer it through the given
  replicas. Prints one JSON line when the load starts and one with the
  ledger when it ends.
- ``progress FEED_ID``: print the control plane's progress of a feed as JSON.

The admin password comes from ``CONCORD_ADMIN_PASSWORD``, so it never shows
in a process list.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from concord.cli.bootstrap import DEFAULT_ADMIN_USERNAME
from concord.cli.client import ControlClient, Project
from concord.cli.context import ProjectAccess
from tests.e2e.load import Annotator, Ledger, join_all, run_annotators

logger = logging.getLogger(__name__)

ANNOTATOR_PASSWORD = "partition-password"
HEALTH_POLL_SECONDS = 0.2
PROGRESS_LOG_SECONDS = 2.0


@dataclass
class TimedLedger(Ledger):
    """A ledger that also records the time and replica of each acknowledged batch."""

    replica_of: dict[str, int] = field(default_factory=dict)
    # (wall-clock time, replica index, answers acknowledged)
    batches: list[tuple[float, int, int]] = field(default_factory=list)

    def acknowledge(self, username: str, answers: list[dict[str, Any]]) -> None:
        super().acknowledge(username, answers)
        with self.lock:
            self.batches.append((time.time(), self.replica_of[username], len(answers)))


def wait_healthy(urls: list[str], seconds: float) -> None:
    """Poll each URL's health until it is up (and joined, for a cluster)."""
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=2.0) as client:
        for url in urls:
            while not healthy(client, url):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{url} was not healthy within {seconds:.0f} s")
                time.sleep(HEALTH_POLL_SECONDS)
            logger.info("%s is healthy", url)


def healthy(client: httpx.Client, url: str) -> bool:
    try:
        response = client.get(f"{url}/api/health")
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        return False
    return bool(response.json().get("joined", True))


def admin_client(control_url: str) -> ControlClient:
    password = os.environ.get("CONCORD_ADMIN_PASSWORD")
    if not password:
        raise SystemExit(
            "CONCORD_ADMIN_PASSWORD is not set. Set it to the admin's password."
        )
    admin = ControlClient(control_url)
    admin.login(DEFAULT_ADMIN_USERNAME, password)
    return admin


def create_feed(
    admin: ControlClient, project: Project, options: argparse.Namespace
) -> str:
    """Import the first examples of the source and create a feed on them."""
    with Path(options.source).open("rb") as lines:
        body = b"".join(itertools.islice(lines, options.examples))
    with ProjectAccess.open(admin, project) as manager:
        dataset = manager.cluster.create_dataset("cooking")
        manager.cluster.import_jsonl(dataset["id"], [body])
        feed = manager.cluster.create_feed(
            {
                "dataset_id": dataset["id"],
                "name": "food",
                "interface": "binary",
                "label": "FOOD",
                "overlap": options.overlap,
                "lease_seconds": options.lease_seconds,
            }
        )
    return str(feed["id"])


def create_annotators(
    admin: ControlClient,
    project: Project,
    feed_id: str,
    options: argparse.Namespace,
    ledger: TimedLedger,
) -> list[Annotator]:
    """Create the users and give each a replica in turn, with a token fetched once."""
    usernames = [f"annotator{index}" for index in range(options.annotators)]
    for username in usernames:
        admin.create_user(username, ANNOTATOR_PASSWORD)
        admin.set_member(project.id, username, "annotator")
    admin.set_feed_members(feed_id, usernames)
    annotators = []
    for index, username in enumerate(usernames):
        with ControlClient(options.control) as control:
            control.login(username, ANNOTATOR_PASSWORD)
            token = control.cluster_token(project.id).token
        replica = index % len(options.replica)
        ledger.replica_of[username] = replica
        url = options.replica[replica]
        annotators.append(Annotator(username, url, feed_id, constant(token), ledger))
    return annotators


def constant(token: str) -> Callable[[], str]:
    return lambda: token


def run_load(options: argparse.Namespace) -> None:
    ledger = TimedLedger()
    with admin_client(options.control) as admin:
        project = admin.create_project("partition")
        feed_id = create_feed(admin, project, options)
        annotators = create_annotators(admin, project, feed_id, options, ledger)
    threads = run_annotators(annotators, options.seconds)
    emit({"event": "started", "feed_id": feed_id, "at": time.time()})
    log_progress(ledger, threads)
    join_all(threads, options.seconds + 30)
    emit(
        {
            "event": "finished",
            "at": time.time(),
            "feed_id": feed_id,
            "acknowledged": ledger.acknowledged,
            "batches": ledger.batches,
            "replica_of": ledger.replica_of,
            "errors": ledger.errors,
            "requests": len(ledger.latencies),
        }
    )


def log_progress(ledger: Ledger, threads: list[threading.Thread]) -> None:
    """Log the acknowledged count every few seconds while annotators run."""
    while any(thread.is_alive() for thread in threads):
        time.sleep(PROGRESS_LOG_SECONDS)
        with ledger.lock:
            acknowledged, errors = len(ledger.acknowledged), ledger.errors
        logger.info("%d answers acknowledged, %d failed requests", acknowledged, errors)


def print_progress(options: argparse.Namespace) -> None:
    with admin_client(options.control) as admin:
        emit(admin.feed_progress(options.feed_id))


def emit(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.load_driver")
    commands = parser.add_subparsers(dest="command", required=True)
    wait = commands.add_parser("wait", help="Wait until servers are healthy.")
    wait.add_argument("urls", nargs="+")
    wait.add_argument(
        "--seconds", type=float, default=60.0, help="Time limit in seconds."
    )
    run = commands.add_parser("run", help="Set up a feed and run the annotators.")
    run.add_argument("--control", required=True, help="Control plane URL.")
    run.add_argument(
        "--replica", action="append", required=True,
        help="URL of a cluster replica; repeat the option for each replica.",
    )
    run.add_argument("--source", required=True, help="JSONL file of examples.")
    run.add_argument(
        "--examples", type=int, required=True, help="Lines of the source to import."
    )
    run.add_argument("--annotators", type=int, required=True, help="Annotator count.")
    run.add_argument("--overlap", type=int, default=2, help="Answers per example.")
    run.add_argument(
        "--lease-seconds", type=int, required=True, help="Lease time of the feed."
    )
    run.add_argument(
        "--seconds", type=float, required=True, help="How long annotators work."
    )
    progress = commands.add_parser("progress", help="Print a feed's progress.")
    progress.add_argument("--control", required=True, help="Control plane URL.")
    progress.add_argument("feed_id")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    # One line per request would bury the progress lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    options = parse_arguments(argv)
    if options.command == "wait":
        wait_healthy(options.urls, options.seconds)
    elif options.command == "run":
        run_load(options)
    else:
        print_progress(options)


if __name__ == "__main__":
    main(sys.argv[1:])
