"""``concord demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from concord.cli.demo import DEMO_DATA_DIR, DemoOptions, run_demo
from concord.cli.terminal import reports_errors, stdout_console


@reports_errors
def demo(
    data_dir: Annotated[
        Path,
        typer.Option(
            help="Folder for the demo; wiped on each run if the demo created it."
        ),
    ] = Path("concord-demo-data"),
    control_port: Annotated[
        int, typer.Option(help="Port of the control plane.")
    ] = 8080,
    cluster_port: Annotated[int, typer.Option(help="Port of the cluster.")] = 8081,
    host: Annotated[
        str, typer.Option(help="Address both planes listen on.")
    ] = "127.0.0.1",
    serve: Annotated[
        bool, typer.Option(help="Keep serving after the demo until Ctrl-C.")
    ] = True,
    min_agreement: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Agreement an item needs to enter the gold set."
        ),
    ] = 0.7,
    tasks_per_annotator: Annotated[
        int, typer.Option(min=1, help="Tasks each scripted annotator answers.")
    ] = 40,
    demo_data: Annotated[
        Path,
        typer.Option(hidden=True, help="Folder with the demo's two JSONL files."),
    ] = DEMO_DATA_DIR,
) -> None:
    """Run Concord's main job on real data: import, agreement, gold, a feed, progress, export."""
    options = DemoOptions(
        data_dir=data_dir,
        host=host,
        control_port=control_port,
        cluster_port=cluster_port,
        serve=serve,
        min_agreement=min_agreement,
        tasks_per_annotator=tasks_per_annotator,
        source_dir=demo_data,
    )
    result = run_demo(options, stdout_console())
    if result.exited_plane is not None:
        raise typer.Exit(1)
