"""``concord feed ...`` and ``concord progress``."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer

from concord.cli.context import CliContext, InvalidOptions
from concord.cli.lookup import find_feed_on_control
from concord.cli.render import print_progress, table
from concord.cli.terminal import print_json, reports_errors, stdout_console

feed_app = typer.Typer(help="Create annotation feeds over datasets and list them.")


class Interface(str, Enum):
    binary = "binary"
    choice = "choice"
    ner_manual = "ner_manual"


def split_list(value: str | None) -> list[str]:
    """Split a comma-separated option into its non-empty, stripped parts."""
    if not value:
        return []
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_options(value: str | None) -> list[dict[str, str]] | None:
    """Parse ``--options`` as ``ID`` or ``ID=Text`` items separated by commas."""
    parts = split_list(value)
    if not parts:
        return None
    options = []
    for part in parts:
        option_id, _, text = part.partition("=")
        options.append({"id": option_id.strip(), "text": (text or option_id).strip()})
    return options


def build_feed_request(
    dataset_id: str,
    name: str,
    interface: Interface,
    label: str | None = None,
    labels: str | None = None,
    options: str | None = None,
    multiple: bool = False,
    overlap: int = 1,
    lease_seconds: int = 600,
    instructions: str = "",
) -> dict[str, Any]:
    """Build the cluster's ``FeedCreate`` body, checking what each interface needs."""
    body: dict[str, Any] = {
        "dataset_id": dataset_id,
        "name": name,
        "interface": interface.value,
        "overlap": overlap,
        "lease_seconds": lease_seconds,
        "instructions": instructions,
    }
    if interface is Interface.binary:
        if not label:
            raise InvalidOptions(
                "A binary feed needs --label, e.g. --label DOCUMENTATION."
            )
        body["label"] = label
    elif interface is Interface.ner_manual:
        names = split_list(labels)
        if not names:
            raise InvalidOptions(
                "An ner_manual feed needs --labels, e.g. --labels ORG,PERSON."
            )
        body["labels"] = names
    else:
        parsed = parse_options(options)
        if parsed is not None:
            body["options"] = parsed
        body["multiple"] = multiple
    return body


@feed_app.command("create")
@reports_errors
def create_feed(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    dataset: Annotated[str, typer.Argument(help="Dataset name or id to annotate.")],
    name: Annotated[str, typer.Argument(help="Name of the new feed.")],
    interface: Annotated[Interface, typer.Option(help="Annotation interface.")],
    label: Annotated[
        str | None, typer.Option(help="The label to accept or reject (binary).")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="Comma-separated span labels (ner_manual).")
    ] = None,
    options: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated options, each ID or ID=Text (choice); "
            "without it each task's own options are shown."
        ),
    ] = None,
    multiple: Annotated[
        bool,
        typer.Option("--multiple", help="Allow several options per task (choice)."),
    ] = False,
    overlap: Annotated[
        int, typer.Option(min=1, help="Distinct annotators wanted per example.")
    ] = 1,
    lease_seconds: Annotated[
        int,
        typer.Option(
            min=1, help="Seconds a served task stays reserved for its annotator."
        ),
    ] = 600,
    instructions: Annotated[str, typer.Option(help="Text shown to annotators.")] = "",
) -> None:
    """Create a feed that serves a dataset's examples to the project's annotators (managers)."""
    context: CliContext = ctx.obj
    with context.project(project) as access:
        found = access.dataset(dataset)
        body = build_feed_request(
            found["id"],
            name,
            interface,
            label,
            labels,
            options,
            multiple,
            overlap,
            lease_seconds,
            instructions,
        )
        feed = access.cluster.create_feed(body)
    stdout_console().print(
        f"Created {feed['interface']} feed {feed['name']} ({feed['id']}) over dataset "
        f"{found['name']}, overlap {feed.get('overlap')}.",
        markup=False,
    )


@feed_app.command("list")
@reports_errors
def list_feeds(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a project's feeds."""
    context: CliContext = ctx.obj
    with context.project(project) as access:
        feeds = access.cluster.list_feeds()
    if as_json:
        print_json(feeds)
        return
    rows = [
        [
            f.get("name"),
            f.get("id"),
            f.get("interface"),
            ",".join(_labels(f)),
            f.get("overlap"),
            f.get("examples"),
        ]
        for f in feeds
    ]
    columns = ["name", "id", "interface", "labels", "overlap", "examples"]
    stdout_console().print(table(None, columns, rows))


@feed_app.command("add-member")
@reports_errors
def add_member(
    ctx: typer.Context,
    feed: Annotated[str, typer.Argument(help="Feed name or id.")],
    usernames: Annotated[
        list[str], typer.Argument(help="Project members who may annotate the feed.")
    ],
    project: Annotated[
        str | None,
        typer.Option(help="Project of the feed, when several have one of that name."),
    ] = None,
) -> None:
    """Let project members annotate a feed; annotators see only their feeds."""
    context: CliContext = ctx.obj
    with context.control() as client:
        found = find_feed_on_control(client, feed, project)
        result = client.set_feed_members(found["id"], usernames)
    members = ", ".join(result.get("usernames", []))
    stdout_console().print(f"Feed {found['name']} members: {members}.", markup=False)


def _labels(feed: dict[str, Any]) -> list[str]:
    if feed.get("labels"):
        return [str(label) for label in feed["labels"]]
    if feed.get("label"):
        return [str(feed["label"])]
    return [str(option.get("id")) for option in feed.get("options") or []]


@reports_errors
def progress(
    ctx: typer.Context,
    feed: Annotated[str, typer.Argument(help="Feed name or id.")],
    project: Annotated[
        str | None,
        typer.Option(help="Project of the feed, when several have one of that name."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a feed's progress as the control plane counts it."""
    context: CliContext = ctx.obj
    with context.control() as client:
        found = find_feed_on_control(client, feed, project)
        result = client.feed_progress(found["id"])
    if as_json:
        print_json(result)
    else:
        print_progress(stdout_console(), result)
