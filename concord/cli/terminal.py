"""Output helpers of the command line: consoles, JSON output and error reporting."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from concord.cli.client import ApiError, ClientError
from concord.cli.supervisor import PlaneError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


def stdout_console() -> Console:
    # Created per call so that Typer's test runner, which swaps sys.stdout,
    # captures what commands print.
    return Console(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` on stderr and return the Exit to raise."""
    stderr_console().print(Text.assemble(("Error: ", "bold red"), message))
    return typer.Exit(code)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a client or plane error into its message on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ApiError as exc:
            raise fail(_api_message(exc)) from None
        except (ClientError, PlaneError) as exc:
            raise fail(str(exc)) from None

    return wrapper


def _api_message(exc: ApiError) -> str:
    if exc.status == 401:
        return (
            f"{exc.message} The token was refused: log in again with `concord login`."
        )
    return exc.message
