"""Rich tables and lines for what the commands print."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

PER_ANNOTATOR_ROWS = 10


def number(value: Any, digits: int = 3) -> str:
    """Format a metric; None (undefined, see docs/agreement.md) prints as n/a."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Table:
    result = Table(title=title, title_justify="left")
    for column in columns:
        result.add_column(column)
    for row in rows:
        result.add_row(*(number(cell) for cell in row))
    return result


def print_import_result(console: Console, result: dict[str, Any]) -> None:
    console.print(
        f"Read {result.get('lines', 0)} lines: "
        f"{result.get('examples_added', 0)} examples added "
        f"({result.get('examples_existing', 0)} already there), "
        f"{result.get('annotations_added', 0)} annotations added "
        f"({result.get('annotations_existing', 0)} already there), "
        f"{_count(result.get('annotators'))} annotators."
    )


def _count(value: Any) -> int:
    if isinstance(value, list):
        return len(value)
    return int(value or 0)


def print_agreement(
    console: Console, report: dict[str, Any], rows: int = PER_ANNOTATOR_ROWS
) -> None:
    """Print the overall metrics, then the per-annotator table's first ``rows`` rows."""
    overall = table(
        "Agreement",
        ["metric", "value"],
        [
            ["percent agreement", report.get("percent_agreement")],
            ["Krippendorff's alpha (nominal)", report.get("krippendorff_alpha")],
            ["mean Cohen's kappa", report.get("cohen_kappa")],
            ["items used", report.get("items")],
            ["items excluded (fewer than 2 ratings)", report.get("items_excluded")],
            ["annotators", report.get("annotators")],
            ["ratings", report.get("ratings")],
        ],
    )
    console.print(overall)
    per_annotator = sorted(
        report.get("per_annotator") or [],
        key=lambda row: (-(row.get("items") or 0), str(row.get("annotator_id"))),
    )
    shown = per_annotator[:rows]
    console.print(
        table(
            f"Per annotator ({len(shown)} of {len(per_annotator)}, most items first)",
            ["annotator", "items", "percent agreement", "mean Cohen's kappa"],
            [
                [
                    row.get("annotator_name") or row.get("annotator_id"),
                    row.get("items"),
                    row.get("percent_agreement"),
                    row.get("cohen_kappa"),
                ]
                for row in shown
            ],
        )
    )
    if len(per_annotator) > len(shown):
        console.print(
            f"... and {len(per_annotator) - len(shown)} more annotators "
            "(use --json for all of them)."
        )


def print_progress(console: Console, progress: dict[str, Any]) -> None:
    console.print(
        f"Feed {progress.get('name')}: {progress.get('examples_done')} of "
        f"{progress.get('examples_total')} examples done "
        f"(overlap {progress.get('overlap')}), "
        f"{progress.get('examples_started')} started, "
        f"{progress.get('answers')} answers."
    )
    console.print(
        table(
            None,
            ["annotator", "answers", "accept", "reject", "ignore"],
            [
                [
                    row.get("username") or row.get("user_id"),
                    row.get("answers"),
                    row.get("accept"),
                    row.get("reject"),
                    row.get("ignore"),
                ]
                for row in progress.get("annotators") or []
            ],
        )
    )


def print_gold(console: Console, result: dict[str, Any]) -> None:
    dataset = result.get("dataset") or {}
    console.print(
        f"Gold dataset {dataset.get('name')} ({dataset.get('id')}): "
        f"{result.get('gold_items')} gold items of {result.get('items')} items, "
        f"{result.get('conflicts')} conflicts left for review."
    )


def print_conflicts(console: Console, result: dict[str, Any], rows: int = 20) -> None:
    conflicts = result.get("conflicts") or []
    console.print(f"{result.get('count', len(conflicts))} conflicts.")
    shown = conflicts[:rows]
    if shown:
        console.print(
            table(
                None,
                ["task hash", "answers (value: annotators)"],
                [
                    [
                        conflict.get("task_hash"),
                        "; ".join(
                            f"{_value(answer.get('value'))}: "
                            f"{_count(answer.get('annotators'))}"
                            for answer in conflict.get("answers") or []
                        ),
                    ]
                    for conflict in shown
                ],
            )
        )
    if len(conflicts) > len(shown):
        console.print(
            f"... and {len(conflicts) - len(shown)} more (use --json for all)."
        )


def _value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    return str(value)
