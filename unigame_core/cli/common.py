"""What every command shares: user-error handling (the consoles and logging setup live in ``unigame_core.console``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape

from ..console import console, out
from ..errors import UnigameError

__all__ = ["console", "fail", "guard", "out", "state", "user_errors"]  # console and out re-exported for plugin commands

F = TypeVar("F", bound=Callable[..., Any])
state = {"verbose": False}


def user_errors(fn: F) -> F:
    """Turn a UnigameError into one clear sentence on stderr and exit code 2 (traceback with --verbose)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except UnigameError as exc:
            if state["verbose"]:
                console.print_exception()
            console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.print("interrupted")
            raise typer.Exit(130) from None

    wrapper.__unigame_guarded__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def guard(app: typer.Typer) -> typer.Typer:
    """Put every command of ``app`` (and of its sub-apps) behind ``user_errors``: ONE error boundary, so a
    plugin's command that forgot the decorator still turns a user error into one sentence and exit code 2."""
    for command in app.registered_commands:
        if command.callback is not None and not getattr(command.callback, "__unigame_guarded__", False):
            command.callback = user_errors(command.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            guard(group.typer_instance)
    return app


def fail(message: str, hint: str | None = None) -> None:
    raise UnigameError(message, hint)

