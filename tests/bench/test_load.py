"""The paced load benchmark against a real one-replica SQLite fleet on 127.0.0.1."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.annotators import Pacing
from bench.load import Run, RunOptions, main, run_one
from concord.cluster.database import Database
from concord.cluster.models import Annotation, Example

pytestmark = pytest.mark.e2e

ANNOTATORS = 5
RATE = 5.0
SECONDS = 3.0

REPORT_FIELDS = {
    "setup",
    "annotators",
    "rate",
    "batch",
    "next_with_answers",
    "examples",
    "warmup_seconds",
    "answers",
    "seconds",
    "answers_per_second",
    "requests",
    "errors",
    "error_kinds",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "next_p50_ms",
    "next_p95_ms",
    "next_p99_ms",
    "answers_p50_ms",
    "answers_p95_ms",
    "answers_p99_ms",
    "server_cpu_seconds",
    "generator_cpu_seconds",
    "machine_cpu_seconds",
    "server_peak_rss_mb",
    "load_average_before",
    "load_average_after",
    "feed_ran_out",
    "ran_out_after_seconds",
    "ran_out_reasons",
    "answers_acknowledged_in_run",
    "errors_in_run",
}


def stored_answers(run: Run) -> list[tuple[str | None, str]]:
    database = Database(run.database_url)
    try:
        with database.sessions() as session:
            rows = session.execute(
                select(Annotation.answer_id, Annotation.answer).where(
                    Annotation.feed_id == run.feed_id
                )
            ).all()
    finally:
        database.dispose()
    return [(answer_id, answer) for answer_id, answer in rows]


def count_examples(run: Run) -> int:
    database = Database(run.database_url)
    try:
        with database.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(Example)) or 0)
    finally:
        database.dispose()


def options(
    shared_data: Path, examples: int, rate: float, seconds: float = SECONDS
) -> RunOptions:
    return RunOptions(
        setup="sqlite-1",
        annotators=ANNOTATORS,
        pacing=Pacing(rate=rate, batch=5),
        warmup=0.5,
        seconds=seconds,
        examples=examples,
        seed=7,
        data=shared_data,
    )


@pytest.fixture(scope="module")
def paced_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Run:
    folder = tmp_path_factory.mktemp("paced")
    return run_one(options(shared_data, examples=1000, rate=RATE), None, folder)


def test_paced_run_report(paced_run: Run) -> None:
    report = paced_run.report

    assert set(report) == REPORT_FIELDS
    assert (report["setup"], report["annotators"]) == ("sqlite-1", ANNOTATORS)
    assert (report["rate"], report["batch"], report["examples"]) == (RATE, 5, 1000)
    assert report["seconds"] == pytest.approx(SECONDS, abs=0.1)
    assert report["feed_ran_out"] is False
    assert report["ran_out_after_seconds"] is None
    assert report["errors"] == 0
    assert report["errors_in_run"] == 0
    assert report["error_kinds"] == {}
    assert report["answers"] > 0
    assert report["requests"] > 0
    assert report["answers"] <= report["answers_acknowledged_in_run"]
    assert report["answers_per_second"] == pytest.approx(
        report["answers"] / report["seconds"], abs=0.1
    )
    # Paced annotators answer about RATE tasks per second each. A closed loop
    # on the same fleet reaches several times that.
    assert report["answers_per_second"] < ANNOTATORS * RATE * 1.6
    for prefix in ("", "next_", "answers_"):
        p50, p95, p99 = (report[f"{prefix}p{n}_ms"] for n in (50, 95, 99))
        assert 0 < p50 <= p95 <= p99, prefix
    assert len(report["server_peak_rss_mb"]) == 1
    assert report["server_peak_rss_mb"][0] > 20
    assert len(report["server_cpu_seconds"]) == 1
    assert report["server_cpu_seconds"][0] > 0
    assert 0 < report["generator_cpu_seconds"] < report["seconds"]
    assert report["machine_cpu_seconds"] >= report["server_cpu_seconds"][0] - 0.05
    assert report["load_average_before"] >= 0
    assert report["load_average_after"] >= 0


def test_acknowledged_answers_are_stored(paced_run: Run) -> None:
    run = paced_run
    rows = stored_answers(run)
    stored_ids = Counter(answer_id for answer_id, _ in rows)

    assert run.report["errors"] == 0
    assert len(run.trace.acknowledged) == run.report["answers_acknowledged_in_run"]
    assert set(run.trace.acknowledged) <= set(stored_ids)
    # Requests in flight at the deadline are waited for, so nothing is stored
    # without the generator knowing.
    assert set(stored_ids) == set(run.trace.acknowledged)
    assert [answer_id for answer_id, count in stored_ids.items() if count > 1] == []
    assert {answer for _, answer in rows} == {"accept"}


def test_feed_running_out_is_reported(tmp_path: Path, shared_data: Path) -> None:
    # The run stops when the feed is done, so a long limit costs nothing and
    # leaves a slow machine time to finish the feed.
    limit = 60.0
    run = run_one(
        options(shared_data, examples=30, rate=0.0, seconds=limit), None, tmp_path
    )
    report = run.report

    assert report["feed_ran_out"] is True
    assert 0 < report["ran_out_after_seconds"] < limit
    assert set(report["ran_out_reasons"]) <= {"done", "leased-by-others"}
    assert sum(report["ran_out_reasons"].values()) == ANNOTATORS
    assert report["seconds"] < limit
    # Overlap 2: every example gets exactly two answers before the feed is done.
    assert len(stored_answers(run)) == 2 * count_examples(run)
    assert len(run.trace.acknowledged) == 2 * count_examples(run)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch", "0"], "invalid --batch 0: pass 1 to 100"),
        (["--batch", "101"], "invalid --batch 101: pass 1 to 100"),
        (["--rate", "-1"], "invalid --rate -1: pass 0 (no think time) or more"),
        (["--annotators", "0"], "invalid --annotators 0: pass 1 or more"),
        (
            ["--setups", "sqlite"],
            "invalid setup 'sqlite': use sqlite-1 or postgresql-N",
        ),
        (["--seconds", "0"], "invalid --warmup 2 or --seconds 0"),
        (["--examples", "10001"], "invalid --examples 10001"),
    ],
)
def test_invalid_options_rejected(
    argv: list[str], message: str, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--data", str(shared_data)])

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_data_folder_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path)])

    error = capsys.readouterr().err
    assert f"{tmp_path}" in error
    assert "pass --data with the shared data folder" in error
