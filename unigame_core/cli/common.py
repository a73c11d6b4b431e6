"""What every command shares: user-error handling, logging setup, console."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from ..errors import UnigameError

F = TypeVar("F", bound=Callable[..., Any])
state = {"verbose": False}
console = Console(stderr=True)
out = Console()


class RankZeroFilter(logging.Filter):
    """Only rank 0 logs INFO and below under torchrun; warnings come from every rank."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or os.environ.get("RANK", "0") == "0"


def setup_logging(verbose: bool = False) -> None:
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=verbose)
    handler.addFilter(RankZeroFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "urllib3", "filelock", "PIL", "matplotlib", "datasets", "lm_eval", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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

    return wrapper  # type: ignore[return-value]


def fail(message: str, hint: str | None = None) -> None:
    raise UnigameError(message, hint)


def python_exit(code: int) -> None:
    sys.exit(code)
