"""What every command shares: user-error handling, ``--verbose`` after the command too, help without a type
beside a flag (the consoles and logging setup live in ``unigame_core.console``)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.markup import escape
from typer.core import TyperCommand, TyperGroup

from ..console import console, out, setup_logging
from ..errors import UnigameError

# console and out re-exported for plugin commands
__all__ = ["Command", "Group", "console", "fail", "guard", "out", "state", "user_errors"]

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
    plugin's command that forgot the decorator still turns a user error into one sentence and exit code 2.
    Every command also takes ``--verbose`` after its name (``with_verbose``), and its help, like every
    group's, shows no type beside a flag (``Command``, ``Group``)."""
    for command in app.registered_commands:
        if command.callback is not None and not getattr(command.callback, "__unigame_guarded__", False):
            command.callback = user_errors(command.callback)
        if command.callback is not None:
            command.callback = with_verbose(command.callback)
        if command.cls in (None, TyperCommand):  # typer's own default: a plugin's own class is kept
            command.cls = Command
    for group in app.registered_groups:
        if _unset(group.cls) or group.cls is TyperGroup:
            group.cls = Group
        if group.typer_instance is not None:
            guard(group.typer_instance)
    return app


def _unset(value: Any) -> bool:
    return value is None or (type(value).__name__ == "DefaultPlaceholder" and getattr(value, "value", None) is None)


def _verbose(value: bool) -> None:
    if value:
        state["verbose"] = True
        setup_logging(True)


def with_verbose(fn: F) -> F:
    """``fn`` with a ``--verbose/-v`` option of its own, so ``unigame train --verbose`` works as well as
    ``unigame --verbose train`` (a command that declares ``verbose`` itself keeps its own)."""
    signature = inspect.signature(fn, eval_str=True)
    if "verbose" in signature.parameters or getattr(fn, "__unigame_verbose__", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, verbose: bool = False, **kwargs: Any) -> Any:
        _verbose(verbose)
        return fn(*args, **kwargs)

    option = inspect.Parameter("verbose", inspect.Parameter.KEYWORD_ONLY, annotation=bool, default=typer.Option(
        False, "--verbose", "-v", help="Debug logging and full tracebacks (also before the command)."))
    parameters = list(signature.parameters.values())
    keyword = next((i for i, p in enumerate(parameters) if p.kind == inspect.Parameter.VAR_KEYWORD), len(parameters))
    wrapper.__signature__ = signature.replace(parameters=[*parameters[:keyword], option, *parameters[keyword:]])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "verbose": bool}
    wrapper.__unigame_verbose__ = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _untyped_flags(params: list[Any]) -> list[Any]:
    """A flag takes no value: typer >= 0.2x shows ``<bool>`` beside it (``--overwrite <bool>``, ``--help
    <bool>``) unless it has a metavar, so each flag gets an empty one (click ignores a flag's metavar)."""
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""
    return params


class Command(TyperCommand):
    """A command whose help shows no type beside a flag (``_untyped_flags``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


class Group(TyperGroup):
    """A command group whose help shows no type beside a flag (``_untyped_flags``)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _untyped_flags(super().get_params(ctx))


def fail(message: str, hint: str | None = None) -> None:
    raise UnigameError(message, hint)

