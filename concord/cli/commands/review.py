"""``concord agreement``, ``concord gold`` and ``concord conflicts``, computed on the cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from concord.cli.context import CliContext, source_body
from concord.cli.render import print_agreement, print_conflicts, print_gold
from concord.cli.terminal import print_json, reports_errors, stdout_console

ProjectArgument = Annotated[str, typer.Argument(help="Project name or id.")]
FeedOption = Annotated[str | None, typer.Option(help="Feed name or id.")]
DatasetOption = Annotated[str | None, typer.Option(help="Dataset name or id.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
MinAgreementOption = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Share of an item's annotators that must give the majority answer.",
    ),
]


@reports_errors
def agreement(
    ctx: typer.Context,
    project: ProjectArgument,
    feed: FeedOption = None,
    dataset: DatasetOption = None,
    rows: Annotated[int, typer.Option(min=0, help="Per-annotator rows to print.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Compute inter-annotator agreement of a feed or a dataset (reviewers, managers)."""
    context: CliContext = ctx.obj
    with context.project(project) as access:
        kind, item = access.source(feed, dataset)
        report = access.cluster.agreement(source_body(kind, item))
    if as_json:
        print_json(report)
        return
    console = stdout_console()
    console.print(f"Agreement of {kind} {item.get('name')}:", markup=False)
    print_agreement(console, report, rows)


@reports_errors
def gold(
    ctx: typer.Context,
    project: ProjectArgument,
    name: Annotated[str, typer.Option(help="Name of the gold dataset to write.")],
    feed: FeedOption = None,
    dataset: DatasetOption = None,
    min_agreement: MinAgreementOption = 0.5,
    as_json: JsonOption = False,
) -> None:
    """Build a gold dataset from the majority answers of a feed or a dataset."""
    context: CliContext = ctx.obj
    with context.project(project) as access:
        kind, item = access.source(feed, dataset)
        result = access.cluster.build_gold(source_body(kind, item), name, min_agreement)
    if as_json:
        print_json(result)
    else:
        print_gold(stdout_console(), result)


@reports_errors
def conflicts(
    ctx: typer.Context,
    project: ProjectArgument,
    feed: FeedOption = None,
    dataset: DatasetOption = None,
    min_agreement: MinAgreementOption = 0.5,
    as_json: JsonOption = False,
) -> None:
    """List the items whose annotators disagree more than --min-agreement allows."""
    context: CliContext = ctx.obj
    with context.project(project) as access:
        kind, item = access.source(feed, dataset)
        result = access.cluster.conflicts(source_body(kind, item), min_agreement)
    if as_json:
        print_json(result)
    else:
        print_conflicts(stdout_console(), result)
