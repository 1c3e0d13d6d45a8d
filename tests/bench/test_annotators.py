"""Figures of a trace: windows and percentiles, on hand-built traces."""

from __future__ import annotations

from bench.annotators import (
    Completed,
    Ending,
    Failure,
    Latency,
    Trace,
    percentile_ms,
)


def test_percentile_nearest_rank() -> None:
    seconds = [index / 1000 for index in range(1, 101)]

    assert percentile_ms(seconds, 0.50) == 50.0
    assert percentile_ms(seconds, 0.95) == 95.0
    assert percentile_ms(seconds, 0.99) == 99.0
    assert percentile_ms([0.004], 0.99) == 4.0


def test_percentile_of_nothing_is_none() -> None:
    assert percentile_ms([], 0.5) is None
    assert Latency.of([]) == Latency(None, None, None)


def test_summary_keeps_window_only() -> None:
    trace = Trace(
        completed=[
            Completed("next", 0.5, 0.400),  # warmup
            Completed("next", 1.5, 0.010),
            Completed("answers", 2.0, 0.020),
            Completed("answers", 3.5, 0.030),  # after the window
        ],
        failures=[Failure("answers", 1.2, "503"), Failure("next", 0.9, "ReadTimeout")],
        acknowledged={"a": 0.8, "b": 1.1, "c": 2.0, "d": 3.2},
        endings=[Ending("annotator0", 2.5, "done")],
    )

    figures = trace.summarize(1.0, 3.0)

    assert figures.seconds == 2.0
    assert figures.answers == 2
    assert figures.answers_per_second == 1.0
    assert figures.requests == 2
    assert figures.errors == 1
    assert figures.error_kinds == {"503": 1}
    assert figures.latency_ms == Latency(10.0, 20.0, 20.0)
    assert figures.next_latency_ms == Latency(10.0, 10.0, 10.0)
    assert figures.answers_latency_ms == Latency(20.0, 20.0, 20.0)


def test_empty_window_has_no_rate() -> None:
    figures = Trace().summarize(2.0, 1.0)

    assert figures.seconds == 0.0
    assert figures.answers_per_second == 0.0


def test_acknowledge_only_settled_ids() -> None:
    trace = Trace()

    trace.acknowledge(["a", "b", "c"], {"stored": ["a"], "duplicates": ["c"]})

    assert sorted(trace.acknowledged) == ["a", "c"]
    assert all(moment > 0 for moment in trace.acknowledged.values())
