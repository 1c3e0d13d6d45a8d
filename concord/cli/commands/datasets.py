"""``concord dataset ...`` and ``concord export``: data on the project's cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from concord.cli.client import ApiError
from concord.cli.context import CliContext, InvalidOptions, ProjectAccess
from concord.cli.lookup import LookupFailed, find_in
from concord.cli.render import print_import_result, table
from concord.cli.terminal import (
    print_json,
    reports_errors,
    stderr_console,
    stdout_console,
)
from concord.cli.transfer import export_to_file, import_file

dataset_app = typer.Typer(help="Create datasets, import JSONL into them and list them.")

ProjectArgument = Annotated[str, typer.Argument(help="Project name or id.")]


@dataset_app.command("create")
@reports_errors
def create_dataset(
    ctx: typer.Context,
    project: ProjectArgument,
    name: Annotated[str, typer.Argument(help="Name of the new dataset.")],
) -> None:
    """Create an empty dataset (managers)."""
    context: CliContext = ctx.obj
    with context.project(project) as access:
        dataset = access.cluster.create_dataset(name)
    stdout_console().print(
        f"Created dataset {dataset['name']} ({dataset['id']}).", markup=False
    )


def ensure_dataset(access: ProjectAccess, ref: str) -> tuple[dict[str, Any], bool]:
    """Return the dataset named or numbered ``ref``, creating it when missing."""
    try:
        return access.dataset(ref), False
    except LookupFailed:
        try:
            return access.cluster.create_dataset(ref), True
        except ApiError as exc:
            # Another import may have created it meanwhile; then use that one.
            if exc.status != 409:
                raise
            return access.dataset(ref), False


@dataset_app.command("import")
@reports_errors
def import_dataset(
    ctx: typer.Context,
    project: ProjectArgument,
    dataset: Annotated[
        str, typer.Argument(help="Dataset name or id; created if missing.")
    ],
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="JSONL file to import."
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON.")
    ] = False,
) -> None:
    """Import a JSONL file (raw texts or annotations) into a dataset (managers).

    The import is all or nothing: on the first invalid line the cluster stores
    nothing and the error names the line.
    """
    context: CliContext = ctx.obj
    console = stdout_console()
    with context.project(project) as access:
        found, created = ensure_dataset(access, dataset)
        if created:
            console.print(
                f"Created dataset {found['name']} ({found['id']}).", markup=False
            )
        # Progress goes to stderr so that stdout stays parseable with --json.
        result = import_file(access.cluster, found["id"], file, stderr_console())
    if as_json:
        print_json(result)
    else:
        print_import_result(console, result)


@dataset_app.command("list")
@reports_errors
def list_datasets(
    ctx: typer.Context,
    project: ProjectArgument,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a project's datasets with their example and annotation counts."""
    context: CliContext = ctx.obj
    with context.project(project) as access:
        datasets = access.cluster.list_datasets()
    if as_json:
        print_json(datasets)
        return
    rows = [
        [
            d.get("name"),
            d.get("id"),
            d.get("role"),
            d.get("examples"),
            d.get("annotations"),
        ]
        for d in datasets
    ]
    columns = ["name", "id", "role", "examples", "annotations"]
    stdout_console().print(table(None, columns, rows))


@reports_errors
def export(
    ctx: typer.Context,
    project: ProjectArgument,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write the JSONL to.")
    ],
    dataset: Annotated[str | None, typer.Option(help="Export this dataset.")] = None,
    feed: Annotated[
        str | None, typer.Option(help="Export this feed's annotations.")
    ] = None,
    gold: Annotated[str | None, typer.Option(help="Export this gold dataset.")] = None,
) -> None:
    """Export a dataset, a feed's annotations or a gold set as JSONL (managers)."""
    context: CliContext = ctx.obj
    chosen = [value for value in (dataset, feed, gold) if value is not None]
    if len(chosen) != 1:
        raise InvalidOptions("Give exactly one of --dataset, --feed and --gold.")
    console = stdout_console()
    with context.project(project) as access:
        if feed is not None:
            kind, item = "feed", access.feed(feed)
        elif gold is not None:
            kind, item = "dataset", _gold_dataset(access, gold)
        else:
            assert dataset is not None
            kind, item = "dataset", access.dataset(dataset)
        result = export_to_file(
            access.cluster, kind, item["id"], output, stderr_console()
        )
    console.print(
        f"Wrote {result.lines} records ({result.bytes} bytes) to {result.path}.",
        markup=False,
    )


def _gold_dataset(access: ProjectAccess, ref: str) -> dict[str, Any]:
    golds = [d for d in access.cluster.list_datasets() if d.get("role") == "gold"]
    hint = (
        f"Build one with `concord gold {access.project.name} --feed FEED --name {ref}`."
    )
    return find_in(golds, ref, "gold dataset", hint)
