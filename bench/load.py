"""Load benchmark: N paced annotators asking for tasks and answering them.

Usage (from the repository root):

    python -m bench.load --annotators 50 200 --setups sqlite-1 postgresql-3 --seconds 15

Each setup is a database and a replica count: ``sqlite-1`` is one replica on a
SQLite file, ``postgresql-N`` is N replicas on one throwaway PostgreSQL server
behind nginx (when N > 1). Every run starts from an empty database with a
fresh feed (binary interface, overlap 2) over the texts of the shared data
folder, and lasts ``--warmup`` plus ``--seconds`` or until the feed returns no
tasks. The annotators are coroutines on one event loop (see
``bench.annotators``) that think ``1 / --rate`` seconds per task on average.

Each run prints one JSON line, and a markdown table of all runs follows at
the end. Figures cover the window after the warmup: acknowledged answers per
second, requests with a 200 response and their latency percentiles (all,
``next`` alone, ``answers`` alone), failed requests, CPU seconds of each server
process, of this generator and of the whole machine, the peak resident memory
of each server process, and the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import logging
import os
import random
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.annotators import PacedAnnotator, Pacing, Schedule, Trace, run_paced
from tests.cluster.conftest import Signer
from tests.e2e.fleet import Fleet, start_fleet
from tests.e2e.test_concurrency import PROJECT, create_feed
from tests.postgres import PostgresServer

logger = logging.getLogger(__name__)

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SOURCE = "raw-reddit-cooking-10k/reddit_r_cooking_sample.jsonl"
SETUP_PATTERN = re.compile(r"(sqlite|postgresql)-([1-9][0-9]*)")
MAX_BATCH = 100  # the largest ``count`` that POST /api/feeds/{id}/next accepts
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class RunOptions:
    """One run: a setup, a number of annotators, their pacing and the timing."""

    setup: str
    annotators: int
    pacing: Pacing
    warmup: float
    seconds: float
    examples: int
    seed: int
    data: Path

    @property
    def replicas(self) -> int:
        return int(self.setup.split("-")[1])

    @property
    def uses_postgresql(self) -> bool:
        return self.setup.startswith("postgresql")


@dataclass
class Run:
    """A finished run: its report, what the annotators saw, and the database it used."""

    report: dict[str, Any]
    trace: Trace
    feed_id: str
    database_url: str


def peak_rss_mb(pid: int) -> float:
    """Return the peak resident set size (VmHWM) of process ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU seconds of process ``pid``, all its threads."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name in brackets may contain spaces, so split after it.
    # utime and stime are fields 14 and 15 of proc(5), in clock ticks.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu_seconds() -> float:
    """Return the CPU seconds all cores spent busy (not idle or iowait) since boot."""
    values = [
        int(value)
        for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ]
    # Columns: user nice system idle iowait irq softirq steal guest guest_nice.
    # Guest time is already counted in user, so it is left out.
    busy = sum(values[:8]) - values[3] - values[4]
    return busy / CLOCK_TICKS


def generator_cpu_seconds() -> float:
    """Return the user plus system CPU seconds of this process, all its threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class ResourceMeter:
    """CPU seconds of the servers, this generator and the machine over the window."""

    pids: list[int]
    before: list[float] = field(default_factory=list)
    after: list[float] = field(default_factory=list)

    def sample(self) -> list[float]:
        servers = [process_cpu_seconds(pid) for pid in self.pids]
        return [*servers, generator_cpu_seconds(), machine_cpu_seconds()]

    def open(self) -> None:
        self.before = self.sample()

    def close(self) -> None:
        self.after = self.sample()

    def used(self) -> list[float]:
        return [
            round(end - start, 2)
            for start, end in zip(self.before, self.after, strict=True)
        ]


def read_examples(path: Path, examples: int) -> bytes:
    with path.open("rb") as lines:
        return b"".join(itertools.islice(lines, examples))


def count_lines(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for _ in lines)


def make_annotators(
    options: RunOptions, signer: Signer, feed_id: str, trace: Trace
) -> list[PacedAnnotator]:
    """Build one annotator per user, with a token for the whole run and its own RNG."""
    lifetime = int(options.warmup + options.seconds) + 600
    return [
        PacedAnnotator(
            username=f"annotator{index}",
            lane=index,
            token=signer.token(
                project=PROJECT,
                role="annotator",
                user=f"annotator{index}",
                lifetime=lifetime,
            ),
            feed_id=feed_id,
            pacing=options.pacing,
            rng=random.Random(f"{options.seed}/{index}"),
            trace=trace,
        )
        for index in range(options.annotators)
    ]


def run_one(options: RunOptions, server: PostgresServer | None, folder: Path) -> Run:
    """Start a fleet on an empty database, fill a feed, run the annotators, report."""
    database_url = (
        server.create_database() if options.uses_postgresql and server else None
    )
    signer = Signer(key=Ed25519PrivateKey.generate(), cluster_id="bench")
    load_before = round(os.getloadavg()[0], 2)
    run_folder = (
        folder / f"{options.setup}-{options.annotators}-{options.pacing.rate:g}"
    )
    fleet: Fleet = start_fleet(run_folder, database_url, options.replicas, signer)
    try:
        logger.info("%s: importing %d examples", options.setup, options.examples)
        body = read_examples(options.data / SOURCE, options.examples)
        feed_id = create_feed(fleet.url, signer, body)
        trace = Trace()
        annotators = make_annotators(options, signer, feed_id, trace)
        meter = ResourceMeter(fleet.pids())
        logger.info(
            "%s: %d annotators for %g + %g s",
            options.setup,
            options.annotators,
            options.warmup,
            options.seconds,
        )
        schedule = Schedule(time.monotonic(), options.warmup, options.seconds)
        # A full collection in this process stops every simulated annotator at
        # once for up to about 100 ms, which would count as server latency.
        gc.collect()
        gc.freeze()
        gc.disable()
        try:
            window_end = asyncio.run(run_paced(annotators, fleet.url, schedule, meter))
        finally:
            gc.enable()
            gc.unfreeze()
        load_after = round(os.getloadavg()[0], 2)
        report = build_report(options, trace, schedule, window_end, meter)
        report["server_peak_rss_mb"] = [
            round(peak_rss_mb(pid), 1) for pid in fleet.pids()
        ]
        report["load_average_before"] = load_before
        report["load_average_after"] = load_after
    finally:
        fleet.stop()
    return Run(
        report=report, trace=trace, feed_id=feed_id, database_url=fleet.database_url
    )


def build_report(
    options: RunOptions,
    trace: Trace,
    schedule: Schedule,
    window_end: float,
    meter: ResourceMeter,
) -> dict[str, Any]:
    """Collect the figures of the measured window into one flat, JSON-ready dict."""
    figures = trace.summarize(schedule.window_start, window_end)
    *servers, generator, machine = meter.used()

    report: dict[str, Any] = {
        "setup": options.setup,
        "annotators": options.annotators,
        "rate": options.pacing.rate,
        "batch": options.pacing.batch,
        "next_with_answers": options.pacing.next_with_answers,
        "examples": options.examples,
        "warmup_seconds": options.warmup,
        "answers": figures.answers,
        "seconds": round(figures.seconds, 2),
        "answers_per_second": round(figures.answers_per_second, 1),
        "requests": figures.requests,
        "errors": figures.errors,
        "error_kinds": figures.error_kinds,
    }

    for prefix, latency in (
        ("", figures.latency_ms),
        ("next_", figures.next_latency_ms),
        ("answers_", figures.answers_latency_ms),
    ):
        report.update({f"{prefix}p50_ms": latency.p50, f"{prefix}p95_ms": latency.p95})
        report[f"{prefix}p99_ms"] = latency.p99

    report["server_cpu_seconds"] = servers
    report["generator_cpu_seconds"] = generator
    # NOTE: the machine figure also counts PostgreSQL, nginx and any other
    # program running at the same time, but the server figures count replicas only.
    report["machine_cpu_seconds"] = machine

    report.update(describe_endings(trace, schedule))
    # Whole-run counts include the warmup and the wait for requests in flight at
    # the deadline, because an overloaded server may time out only after the window.
    report["answers_acknowledged_in_run"] = len(trace.acknowledged)
    report["errors_in_run"] = len(trace.failures)
    return report


def describe_endings(trace: Trace, schedule: Schedule) -> dict[str, Any]:
    """Report whether annotators got no tasks before the deadline, when, and why."""
    if not trace.endings:
        return {
            "feed_ran_out": False,
            "ran_out_after_seconds": None,
            "ran_out_reasons": {},
        }
    first = min(ending.at for ending in trace.endings) - schedule.started
    reasons = dict(Counter(ending.reason for ending in trace.endings))
    logger.warning(
        "the feed returned no tasks %.1f s into the run (%s); the figures after that "
        "undercount the load: pass fewer --seconds or annotators, or more --examples",
        first,
        reasons,
    )
    return {
        "feed_ran_out": True,
        "ran_out_after_seconds": round(first, 2),
        "ran_out_reasons": reasons,
    }


TABLE_COLUMNS = [
    "Setup",
    "Annotators",
    "Rate",
    "Batch",
    "Answers/s",
    "Requests",
    "Errors",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "next p99 ms",
    "answers p99 ms",
    "Server CPU (cores)",
    "Generator CPU (cores)",
    "Machine CPU (cores)",
    "Peak RSS per server (MiB)",
    "Load 1 min before, after",
    "Feed ran out",
]


def markdown_table(reports: list[dict[str, Any]]) -> str:
    """Render one markdown row per run, with CPU as cores busy over the window."""
    lines = [
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "|" + "---|" * len(TABLE_COLUMNS),
    ]
    for report in reports:
        seconds = report["seconds"] or float("nan")
        cells = [
            report["setup"],
            report["annotators"],
            f"{report['rate']:g}",
            report["batch"],
            f"{report['answers_per_second']:,.0f}",
            f"{report['requests']:,}",
            report["errors"],
            report["p50_ms"],
            report["p95_ms"],
            report["p99_ms"],
            report["next_p99_ms"],
            report["answers_p99_ms"],
            ", ".join(f"{cpu / seconds:.2f}" for cpu in report["server_cpu_seconds"]),
            f"{report['generator_cpu_seconds'] / seconds:.2f}",
            f"{report['machine_cpu_seconds'] / seconds:.2f}",
            ", ".join(f"{rss:.0f}" for rss in report["server_peak_rss_mb"]),
            f"{report['load_average_before']:.1f}, {report['load_average_after']:.1f}",
            f"after {report['ran_out_after_seconds']} s"
            if report["feed_ran_out"]
            else "no",
        ]
        lines.append(
            "| "
            + " | ".join("-" if cell is None else str(cell) for cell in cells)
            + " |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--annotators",
        type=int,
        nargs="+",
        default=[50, 200, 1000],
        help="numbers of annotators, one run each",
    )
    parser.add_argument(
        "--setups",
        nargs="+",
        default=["sqlite-1", "postgresql-1", "postgresql-3"],
        help="sqlite-1 or postgresql-N (N replicas behind nginx)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=5.0,
        help="answers per second per annotator; 0 removes think time",
    )
    parser.add_argument(
        "--batch", type=int, default=10, help="tasks asked for per request"
    )
    parser.add_argument(
        "--separate-next",
        action="store_true",
        help="ask for tasks with POST .../next after each answers request, "
        "instead of inside it",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=2.0,
        help="seconds at the start left out of the figures",
    )
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="seconds measured after the warmup"
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=None,
        help="lines of the source file to import (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the think times")
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="the shared data folder (default: shared/data beside the repository)",
    )
    return parser


def check_options(parser: argparse.ArgumentParser, options: argparse.Namespace) -> None:
    """Reject invalid values with the value and the fix, and fill in --examples."""
    for setup in options.setups:
        if not SETUP_PATTERN.fullmatch(setup):
            parser.error(
                f"invalid setup {setup!r}: use sqlite-1 or postgresql-N, "
                "e.g. postgresql-3"
            )
    if min(options.annotators) < 1:
        parser.error(f"invalid --annotators {min(options.annotators)}: pass 1 or more")
    if options.rate < 0:
        parser.error(f"invalid --rate {options.rate:g}: pass 0 (no think time) or more")
    if not 1 <= options.batch <= MAX_BATCH:
        parser.error(f"invalid --batch {options.batch}: pass 1 to {MAX_BATCH}")
    if options.warmup < 0 or options.seconds <= 0:
        parser.error(
            f"invalid --warmup {options.warmup:g} or --seconds {options.seconds:g}: "
            "the warmup may be 0, the measured seconds must be more than 0"
        )
    source = options.data / SOURCE
    if not source.is_file():
        parser.error(
            f"source file {source} not found: pass --data with the shared data folder"
        )
    lines = count_lines(source)
    if options.examples is None:
        options.examples = lines
    if not 1 <= options.examples <= lines:
        parser.error(
            f"invalid --examples {options.examples}: {source} has {lines} lines"
        )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    check_options(parser, options)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(message)s"
    )
    # Progress lines of this benchmark, which runs as __main__ under -m.
    for name in ("bench", __name__):
        logging.getLogger(name).setLevel(logging.INFO)
    needs_postgres = any(setup.startswith("postgresql") for setup in options.setups)
    server = PostgresServer.start() if needs_postgres else None
    reports = []
    try:
        with tempfile.TemporaryDirectory(prefix="concord-bench-") as folder:
            for setup, annotators in itertools.product(
                options.setups, options.annotators
            ):
                run = run_one(
                    RunOptions(
                        setup=setup,
                        annotators=annotators,
                        pacing=Pacing(
                            rate=options.rate,
                            batch=options.batch,
                            next_with_answers=not options.separate_next,
                        ),
                        warmup=options.warmup,
                        seconds=options.seconds,
                        examples=options.examples,
                        seed=options.seed,
                        data=options.data,
                    ),
                    server,
                    Path(folder),
                )
                reports.append(run.report)
                print(json.dumps(run.report), flush=True)
    finally:
        if server is not None:
            server.stop()
        # The table comes even when a later run failed, for the runs that ended.
        if reports:
            print(markdown_table(reports), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
