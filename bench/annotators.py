"""Paced annotators on one event loop, and the trace of what they saw.

Each ``PacedAnnotator`` is a coroutine that asks a feed for a batch of tasks,
thinks, then answers every task with client-chosen answer ids, until the feed
returns no tasks or time is up. The think time per task is drawn from an
exponential distribution with mean ``1 / rate`` seconds, so an annotator
answers a little under ``rate`` tasks per second (think time comes on top of
request time). A rate of 0 removes think time, which gives a closed loop for
maximum throughput. All annotators share one ``httpx.AsyncClient``, so the
generator costs one thread however many annotators it runs.

A request that fails (an exception or a status other than 200) counts as an
error and is sent again after a short pause with the same body, so a retried
answer keeps its answer id and is never stored twice.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson

logger = logging.getLogger(__name__)

RETRY_PAUSE_SECONDS = 0.2
# Annotators start evenly spread over this many seconds, so they do not all
# ask for their first tasks at the same instant.
STAGGER_SECONDS = 1.0
# uvicorn closes idle keep-alive connections after 5 s by default, so the
# client drops them sooner rather than reuse one the server is closing.
KEEPALIVE_EXPIRY_SECONDS = 4.0
JSON_HEADERS = {"Content-Type": "application/json"}
ROUTES = ("next", "answers")


@dataclass(frozen=True)
class Pacing:
    """Answers per second per annotator (0: no think time) and tasks per request."""

    rate: float
    batch: int
    # Ask for the next tasks inside the answers request (one round trip per
    # batch) instead of with a separate POST .../next.
    next_with_answers: bool = True


@dataclass(frozen=True)
class Schedule:
    """Monotonic times of a run: start, end of the warmup, and the deadline."""

    started: float
    warmup: float
    seconds: float

    @property
    def window_start(self) -> float:
        return self.started + self.warmup

    @property
    def deadline(self) -> float:
        return self.started + self.warmup + self.seconds


@dataclass(frozen=True, slots=True)
class Completed:
    """A request with a 200 response: its route, end time and duration."""

    route: str
    finished_at: float
    seconds: float


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed request: its route, when it failed, and the exception or status."""

    route: str
    finished_at: float
    kind: str


@dataclass(frozen=True, slots=True)
class Ending:
    """An annotator that got no tasks: when, and the ``reason`` the feed gave."""

    username: str
    at: float
    reason: str


@dataclass
class Trace:
    """Requests with a 200 response, failures, acknowledged answers, endings."""

    completed: list[Completed] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    acknowledged: dict[str, float] = field(default_factory=dict)
    endings: list[Ending] = field(default_factory=list)

    def acknowledge(self, answer_ids: Sequence[str], result: dict[str, Any]) -> None:
        """Record the answer ids that the cluster reported as stored or duplicate."""
        settled = set(result["stored"]) | set(result["duplicates"])
        now = time.monotonic()
        for answer_id in answer_ids:
            if answer_id in settled:
                self.acknowledged[answer_id] = now

    def summarize(self, window_start: float, window_end: float) -> Figures:
        """Compute the figures of the events that finished inside the window."""

        def inside(moment: float) -> bool:
            return window_start <= moment <= window_end

        completed = [record for record in self.completed if inside(record.finished_at)]
        failures = [failure for failure in self.failures if inside(failure.finished_at)]
        latencies = {
            route: [record.seconds for record in completed if record.route == route]
            for route in ROUTES
        }
        return Figures(
            seconds=max(0.0, window_end - window_start),
            answers=sum(1 for moment in self.acknowledged.values() if inside(moment)),
            requests=len(completed),
            errors=len(failures),
            error_kinds=dict(Counter(failure.kind for failure in failures)),
            latency_ms=Latency.of([record.seconds for record in completed]),
            next_latency_ms=Latency.of(latencies["next"]),
            answers_latency_ms=Latency.of(latencies["answers"]),
        )


@dataclass(frozen=True)
class Latency:
    """Latency percentiles in milliseconds, or None when no request finished."""

    p50: float | None
    p95: float | None
    p99: float | None

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ordered = sorted(seconds)
        return cls(*(percentile_ms(ordered, share) for share in (0.50, 0.95, 0.99)))


def percentile_ms(ordered: list[float], share: float) -> float | None:
    """Return the nearest-rank percentile of sorted seconds, in milliseconds."""
    if not ordered:
        return None
    rank = max(1, math.ceil(share * len(ordered)))
    return round(ordered[rank - 1] * 1000, 1)


@dataclass(frozen=True)
class Figures:
    """Answers, requests with a 200 response, failures and latency of the window."""

    seconds: float
    answers: int
    requests: int
    errors: int
    error_kinds: dict[str, int]
    latency_ms: Latency
    next_latency_ms: Latency
    answers_latency_ms: Latency

    @property
    def answers_per_second(self) -> float:
        return self.answers / self.seconds if self.seconds > 0 else 0.0


@dataclass
class PacedAnnotator:
    """One annotator session on one feed, with its own seeded think-time generator.

    ``lane`` picks the annotator's connection in ``LaneTransport``: 0 to the
    number of annotators minus 1, each used by one annotator.
    """

    username: str
    lane: int
    token: str
    feed_id: str
    pacing: Pacing
    rng: random.Random
    trace: Trace
    _headers: dict[str, str] = field(init=False, default_factory=dict)
    _urls: dict[str, httpx.URL] = field(init=False, default_factory=dict)

    async def run(
        self, client: httpx.AsyncClient, delay: float, deadline: float
    ) -> None:
        """Answer batches of tasks until the feed returns none or the deadline."""
        await asyncio.sleep(delay)
        self._headers = {**JSON_HEADERS, "Authorization": f"Bearer {self.token}"}
        # Absolute URLs spare the client from parsing and merging a relative
        # one on every request.
        self._urls = {
            route: client.base_url.join(f"/api/feeds/{self.feed_id}/{route}")
            for route in ROUTES
        }
        batch: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            if batch is None:
                batch = await self._post(
                    client, "next", {"count": self.pacing.batch}, deadline
                )
            if batch is None:
                return
            tasks = batch["tasks"]
            if not tasks:
                reason = str(batch.get("reason") or "no tasks")
                self.trace.endings.append(
                    Ending(self.username, time.monotonic(), reason)
                )
                return
            if not await self._think(len(tasks), deadline):
                return
            answers = [
                {
                    "answer_id": uuid.uuid4().hex,
                    "task_hash": task["_task_hash"],
                    "answer": "accept",
                }
                for task in tasks
            ]
            body: dict[str, Any] = {"answers": answers}
            if self.pacing.next_with_answers:
                body["next"] = self.pacing.batch
            result = await self._post(client, "answers", body, deadline)
            if result is None:
                return
            self.trace.acknowledge([answer["answer_id"] for answer in answers], result)
            batch = result if self.pacing.next_with_answers else None

    async def _think(self, tasks: int, deadline: float) -> bool:
        """Sleep one think time per task. Returns False when the deadline came first."""
        if self.pacing.rate <= 0:
            return True
        pause = sum(self.rng.expovariate(self.pacing.rate) for _ in range(tasks))
        remaining = deadline - time.monotonic()
        if pause >= remaining:
            await asyncio.sleep(max(0.0, remaining))
            return False
        await asyncio.sleep(pause)
        return True

    async def _post(
        self,
        client: httpx.AsyncClient,
        route: str,
        body: dict[str, Any],
        deadline: float,
    ) -> dict[str, Any] | None:
        """POST ``body`` until the cluster responds 200; None at the deadline."""
        content = orjson.dumps(body)
        extensions = {"lane": self.lane}
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                response = await client.post(
                    self._urls[route],
                    content=content,
                    headers=self._headers,
                    extensions=extensions,
                )
            except httpx.HTTPError as exc:
                self._fail(route, type(exc).__name__, str(exc))
            else:
                if response.status_code == 200:
                    finished = time.monotonic()
                    self.trace.completed.append(
                        Completed(route, finished, finished - started)
                    )
                    parsed: dict[str, Any] = orjson.loads(response.content)
                    return parsed
                self._fail(route, str(response.status_code), response.text[:200])
            await asyncio.sleep(
                min(RETRY_PAUSE_SECONDS, max(0.0, deadline - time.monotonic()))
            )
        return None

    def _fail(self, route: str, kind: str, detail: str) -> None:
        self.trace.failures.append(Failure(route, time.monotonic(), kind))
        logger.debug("%s: %s failed (%s): %s", self.username, route, kind, detail)


class LaneTransport(httpx.AsyncBaseTransport):
    """One keep-alive HTTP/1.1 connection per lane (annotator), behind one client.

    httpcore 1.0.9 rescans every connection of a pool, and polls each idle
    socket, whenever a request starts or ends. One pool of N connections thus
    costs up to O(N^2) work per request. In a 200-annotator run against one
    SQLite replica, one shared pool cost the generator 7.1 CPU seconds in 15 s
    and one pool per lane 0.6 s. A request picks its lane with the ``lane``
    request extension.
    """

    def __init__(self, lanes: int) -> None:
        limits = httpx.Limits(
            max_connections=1,
            max_keepalive_connections=1,
            keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
        )
        # Loading the CA store takes about 30 ms per context, and the requests
        # here are plain HTTP, so every lane shares one context.
        context = httpx.create_ssl_context()
        self._lanes = [
            httpx.AsyncHTTPTransport(verify=context, limits=limits)
            for _ in range(lanes)
        ]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        lane = int(request.extensions.get("lane", 0))
        return await self._lanes[lane].handle_async_request(request)

    async def aclose(self) -> None:
        for lane in self._lanes:
            await lane.aclose()


class Window(Protocol):
    """Hooks called when the measured window opens and when it closes."""

    def open(self) -> None: ...

    def close(self) -> None: ...


async def run_paced(
    annotators: list[PacedAnnotator],
    base_url: str,
    schedule: Schedule,
    window: Window,
    timeout: float = 30.0,
) -> float:
    """Run every annotator on one client and return when the window closed.

    The window closes at the deadline, or earlier when every annotator has
    stopped because the feed returned no tasks. Requests still in flight at
    the deadline may finish, so every answer the cluster stores is
    acknowledged, but they fall outside the figures.
    """
    transport = LaneTransport(len(annotators))
    # With trust_env=False no proxy from the environment can stand between the
    # generator and the servers it measures.
    client = httpx.AsyncClient(
        base_url=base_url, timeout=timeout, transport=transport, trust_env=False
    )
    async with client:
        spacing = STAGGER_SECONDS / len(annotators)
        tasks = [
            asyncio.create_task(
                annotator.run(client, index * spacing, schedule.deadline)
            )
            for index, annotator in enumerate(annotators)
        ]
        window_end = await _measure(tasks, schedule, window)
        await _finish(tasks, timeout + 5.0)
    return window_end


async def _measure(
    tasks: list[asyncio.Task[None]], schedule: Schedule, window: Window
) -> float:
    """Open the window after the warmup; close it at the deadline or when all stop."""
    await asyncio.wait(
        tasks, timeout=max(0.0, schedule.window_start - time.monotonic())
    )
    window.open()
    await asyncio.wait(tasks, timeout=max(0.0, schedule.deadline - time.monotonic()))
    window_end = min(time.monotonic(), schedule.deadline)
    window.close()
    return window_end


async def _finish(tasks: list[asyncio.Task[None]], seconds: float) -> None:
    """Wait for annotators still in a request; cancel those left after ``seconds``."""
    done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    if pending:
        logger.warning(
            "cancelled %d annotators still running after the deadline", len(pending)
        )
        await asyncio.gather(*pending, return_exceptions=True)
    crashes = [task.exception() for task in done if not task.cancelled()]
    for crash in crashes:
        if crash is not None:
            raise crash
