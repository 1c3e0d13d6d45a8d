"""Scripted annotators under load, and a ledger of what the cluster acknowledged.

Each ``Annotator`` runs in its own thread: ask for tasks, answer them all with
client-chosen answer ids, repeat until no work is left or time runs out. A
request that fails (connection refused while a replica is down, a timeout)
is retried with the same answer ids, so a retry never stores twice. Every
answer id the cluster reports as stored or duplicate goes to the ``Ledger``,
along with the latency of each request.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

logger = logging.getLogger(__name__)

RETRY_PAUSE_SECONDS = 0.2


@dataclass
class Ledger:
    """Thread-safe record of acknowledged answers, errors and request latencies."""

    acknowledged: dict[str, tuple[str, int]] = field(default_factory=dict)
    served: dict[str, list[int]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledge(self, username: str, answers: list[dict[str, Any]]) -> None:
        with self.lock:
            for answer in answers:
                self.acknowledged[answer["answer_id"]] = (username, answer["task_hash"])

    def record(self, seconds: float) -> None:
        with self.lock:
            self.latencies.append(seconds)

    def failed(self) -> None:
        with self.lock:
            self.errors += 1


@dataclass
class Annotator:
    """One scripted annotator session on one feed."""

    username: str
    base_url: str
    feed_id: str
    token: Callable[[], str]
    ledger: Ledger
    batch_size: int = 5
    timeout: float = 30.0
    # Ask for the next tasks in the answers request instead of a separate one.
    next_with_answers: bool = False

    def run(self, deadline: float, stop: threading.Event) -> None:
        """Answer tasks until the feed has none left for us, ``stop`` is set or time is up."""
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as client:
            tasks = None
            while not stop.is_set() and time.monotonic() < deadline:
                if tasks is None:
                    tasks = self._request(
                        client, "next", {"count": self.batch_size}, deadline, stop
                    )
                if tasks is None or not tasks["tasks"]:
                    return
                answers = [
                    {
                        "answer_id": uuid.uuid4().hex,
                        "task_hash": task["_task_hash"],
                        "answer": "accept",
                    }
                    for task in tasks["tasks"]
                ]
                body: dict[str, Any] = {"answers": answers}
                if self.next_with_answers:
                    body["next"] = self.batch_size
                result = self._request(client, "answers", body, deadline, stop)
                if result is None:
                    return
                settled = set(result["stored"]) | set(result["duplicates"])
                self.ledger.acknowledge(
                    self.username, [a for a in answers if a["answer_id"] in settled]
                )
                rejected = bool(result.get("rejected"))
                tasks = result if self.next_with_answers and not rejected else None

    def _request(
        self,
        client: httpx.Client,
        route: str,
        body: dict[str, Any],
        deadline: float,
        stop: threading.Event,
    ) -> dict[str, Any] | None:
        """POST until the cluster answers 200; None when time runs out first."""
        while not stop.is_set() and time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                response = client.post(
                    f"/api/feeds/{self.feed_id}/{route}",
                    json=body,
                    headers={"Authorization": f"Bearer {self.token()}"},
                )
            except httpx.HTTPError as exc:
                logger.debug("%s: %s failed: %s", self.username, route, exc)
                self.ledger.failed()
                time.sleep(RETRY_PAUSE_SECONDS)
                continue
            if response.status_code == 200:
                self.ledger.record(time.perf_counter() - started)
                return response.json()
            if response.status_code == 409 and route == "answers":
                # A lease ran out and its task went to someone else: the whole
                # batch was rejected, so ask again, as the annotation page does.
                logger.info("%s: answers rejected: %s", self.username, response.text[:200])
                self.ledger.failed()
                return {"stored": [], "duplicates": [], "rejected": True}
            logger.info(
                "%s: %s answered %d: %s",
                self.username,
                route,
                response.status_code,
                response.text[:200],
            )
            self.ledger.failed()
            time.sleep(RETRY_PAUSE_SECONDS)
        return None


def run_annotators(
    annotators: list[Annotator], seconds: float, stop: threading.Event | None = None
) -> list[threading.Thread]:
    """Start every annotator in its own thread; returns the threads, already running."""
    deadline = time.monotonic() + seconds
    stop = stop or threading.Event()
    threads = [
        threading.Thread(
            target=annotator.run, args=(deadline, stop), name=annotator.username, daemon=True
        )
        for annotator in annotators
    ]
    for thread in threads:
        thread.start()
    return threads


def join_all(threads: list[threading.Thread], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread.name for thread in threads if thread.is_alive()]
    assert not alive, f"annotators still running after {seconds} s: {alive[:5]}"
