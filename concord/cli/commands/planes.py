"""``concord control serve``, ``concord cluster serve`` and ``concord up``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from concord.cli.context import CliContext
from concord.cli.serving import CLUSTER, CONTROL, serve
from concord.cli.supervisor import RunningPlanes, serve_until_stopped, start_planes
from concord.cli.terminal import reports_errors, stderr_console, stdout_console

control_app = typer.Typer(help="Run the control plane (people, projects, progress).")
cluster_app = typer.Typer(help="Run a cluster (the data plane that keeps the data).")

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder for the databases and logs (default: the global --data-dir).",
        show_default=False,
    ),
]
HostOption = Annotated[
    str | None,
    typer.Option(help="Address to listen on (default: 127.0.0.1).", show_default=False),
]


@control_app.command("serve")
def control_serve(
    ctx: typer.Context,
    data_dir: DataDirOption = None,
    host: HostOption = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port to listen on (default: 8080).")
    ] = None,
) -> None:
    """Serve the control plane until Ctrl-C; logs go to stderr and <data-dir>/logs/control.log."""
    context: CliContext = ctx.obj
    serve(CONTROL, data_dir or context.data_dir, host, port)


@cluster_app.command("serve")
def cluster_serve(
    ctx: typer.Context,
    data_dir: DataDirOption = None,
    host: HostOption = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port to listen on (default: 8081).")
    ] = None,
) -> None:
    """Serve a cluster until Ctrl-C; it joins the control plane at CONCORD_CONTROL_URL."""
    context: CliContext = ctx.obj
    serve(CLUSTER, data_dir or context.data_dir, host, port)


@reports_errors
def up(
    ctx: typer.Context,
    data_dir: DataDirOption = None,
    control_port: Annotated[
        int, typer.Option(help="Port of the control plane.")
    ] = 8080,
    cluster_port: Annotated[int, typer.Option(help="Port of the cluster.")] = 8081,
    host: Annotated[
        str, typer.Option(help="Address both planes listen on.")
    ] = "127.0.0.1",
) -> None:
    """Start the control plane and a cluster on this machine and keep them running.

    On a new data folder this creates the admin, prints the password once and
    logs the command line in. Ctrl-C stops both planes.
    """
    context: CliContext = ctx.obj
    folder = data_dir or context.data_dir
    console = stdout_console()
    console.print(f"Starting Concord with data in {folder.resolve()} ...")
    planes = start_planes(folder, host, control_port, cluster_port)
    print_running(console, planes)
    dead = serve_until_stopped(planes)
    if dead is not None:
        stderr_console().print(
            f"The {dead.title} exited with code {dead.process.returncode}, so the "
            f"other plane was stopped too. Last output of the {dead.title}:\n"
            f"{dead.log_tail()}",
            markup=False,
        )
        raise typer.Exit(1)
    console.print("Stopped both planes.")


def print_running(console: Console, planes: RunningPlanes) -> None:
    """Print the URLs, the data folder and the login state of running planes."""
    console.print("[bold]Concord is running.[/]")
    console.print(
        f"  Control plane: {planes.control_url}  (API docs: {planes.control_url}/docs)"
    )
    console.print(f"  Cluster:       {planes.cluster_url}")
    console.print(f"  Sign in:       {planes.control_url}/login")
    console.print(f"  Data folder:   {planes.data_dir}")
    console.print(f"  Logs:          {planes.data_dir / 'logs'}")
    credentials = planes.credentials
    if credentials is None:
        console.print(
            "The command line is not logged in: run `concord --data-dir "
            f"{planes.data_dir} --control-url {planes.control_url} login`.",
            markup=False,
        )
    elif credentials.generated_password is not None:
        console.print(
            f"  Admin login:   {credentials.username} / "
            f"{credentials.generated_password}"
            "  (shown only this once: write it down)",
            markup=False,
        )
        console.print("The command line is logged in as the admin.")
    else:
        console.print(f"The command line is logged in as {credentials.username}.")
    console.print("Press Ctrl-C to stop.")
