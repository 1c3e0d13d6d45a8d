"""The ``concord`` command: global options and the command groups."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from concord.cli.commands import datasets, demo, feeds, people, planes, projects, review
from concord.cli.context import CliContext

app = typer.Typer(
    name="concord",
    help="Concord: self-hosted team annotation. Run `concord demo` to see it work.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    control_url: Annotated[
        str | None,
        typer.Option(
            envvar="CONCORD_CONTROL_URL",
            help="Control plane URL (default: the saved login's, else "
            "http://127.0.0.1:8080).",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="CONCORD_TOKEN",
            help="API token (default: the one in <data-dir>/cli-token.json).",
            show_default=False,
            show_envvar=True,
        ),
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option(
            envvar="CONCORD_DATA_DIR",
            help="Data folder of `concord up`, where the saved login is kept.",
        ),
    ] = Path("concord-data"),
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log requests and steps to stderr.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    ctx.obj = CliContext(
        data_dir=data_dir, control_url_option=control_url, token_option=token
    )


app.add_typer(planes.control_app, name="control")
app.add_typer(planes.cluster_app, name="cluster")
app.command("up")(planes.up)
app.command("demo")(demo.demo)
app.command("login")(people.login)
app.add_typer(people.user_app, name="user")
app.add_typer(projects.project_app, name="project")
app.add_typer(datasets.dataset_app, name="dataset")
app.add_typer(feeds.feed_app, name="feed")
app.command("progress")(feeds.progress)
app.command("agreement")(review.agreement)
app.command("gold")(review.gold)
app.command("conflicts")(review.conflicts)
app.command("export")(datasets.export)
