"""``concord login`` and ``concord user ...``."""

from __future__ import annotations

from typing import Annotated

import typer

from concord.cli.client import ControlClient
from concord.cli.context import CliContext
from concord.cli.credentials import SavedLogin, save_login
from concord.cli.render import table
from concord.cli.terminal import print_json, reports_errors, stdout_console

user_app = typer.Typer(help="Create and list users (admins only).")


@reports_errors
def login(
    ctx: typer.Context,
    username: Annotated[str, typer.Option(prompt=True, help="Your username.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            envvar="CONCORD_PASSWORD",
            help="Your password (prompted when not given).",
            show_default=False,
        ),
    ],
) -> None:
    """Log in to the control plane and save the API token in <data-dir>/cli-token.json."""
    context: CliContext = ctx.obj
    with ControlClient(context.control_url) as client:
        token, user = client.login(username, password)
    path = save_login(
        context.data_dir, SavedLogin(context.control_url, user.username, token)
    )
    stdout_console().print(
        f"Logged in to {context.control_url} as {user.username}; "
        f"token saved to {path}.",
        markup=False,
    )


@user_app.command("create")
@reports_errors
def create_user(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name of the new user.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="CONCORD_USER_PASSWORD",
            help="The new user's password (prompted when not given).",
            show_default=False,
        ),
    ],
    admin: Annotated[
        bool, typer.Option("--admin", help="Make the user an admin.")
    ] = False,
) -> None:
    """Create a user."""
    context: CliContext = ctx.obj
    with context.control() as client:
        user = client.create_user(username, password, is_admin=admin)
    role = "admin" if user.is_admin else "user"
    stdout_console().print(f"Created {role} {user.username} ({user.id}).", markup=False)


@user_app.command("list")
@reports_errors
def list_users(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List all users."""
    context: CliContext = ctx.obj
    with context.control() as client:
        users = client.list_users()
    if as_json:
        print_json([user.__dict__ for user in users])
        return
    rows = [
        [u.username, u.id, "yes" if u.is_admin else "no", "yes" if u.active else "no"]
        for u in users
    ]
    stdout_console().print(table(None, ["username", "id", "admin", "active"], rows))
