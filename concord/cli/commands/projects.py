"""``concord project ...``."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from concord.cli.context import CliContext
from concord.cli.lookup import find_project
from concord.cli.render import table
from concord.cli.terminal import print_json, reports_errors, stdout_console

project_app = typer.Typer(help="Create projects, list them and manage their members.")


class Role(str, Enum):
    annotator = "annotator"
    reviewer = "reviewer"
    manager = "manager"


@project_app.command("create")
@reports_errors
def create_project(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of the new project.")],
) -> None:
    """Create a project on the only joined cluster (admins only)."""
    context: CliContext = ctx.obj
    with context.control() as client:
        project = client.create_project(name)
    stdout_console().print(
        f"Created project {project.name} ({project.id}) "
        f"on cluster {project.cluster_url}.",
        markup=False,
    )


@project_app.command("list")
@reports_errors
def list_projects(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the projects you belong to (all of them for an admin)."""
    context: CliContext = ctx.obj
    with context.control() as client:
        projects = client.list_projects()
    if as_json:
        print_json([project.__dict__ for project in projects])
        return
    rows = [[p.name, p.id, p.role, p.cluster_url] for p in projects]
    stdout_console().print(table(None, ["name", "id", "your role", "cluster"], rows))


@project_app.command("add-member")
@reports_errors
def add_member(
    ctx: typer.Context,
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    username: Annotated[str, typer.Argument(help="User to add.")],
    role: Annotated[Role, typer.Option(help="Role in the project.")] = Role.annotator,
) -> None:
    """Add a user to a project, or change their role (admins and managers)."""
    context: CliContext = ctx.obj
    with context.control() as client:
        found = find_project(client, project)
        member = client.set_member(found.id, username, role.value)
    stdout_console().print(
        f"{member['username']} is now {member['role']} in project {found.name}.",
        markup=False,
    )
