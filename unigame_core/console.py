"""The terminal every part of unigame writes to: two rich consoles and the logging setup.

``console`` (stderr) carries logs, progress bars and errors; ``out`` (stdout) carries results (tables)
that a user may pipe. The game and evaluation code import these from here, never from ``cli``: the
command line sits on top of the library, not underneath it.
"""

from __future__ import annotations

import logging
import os

from rich.console import Console
from rich.logging import RichHandler

console = Console(stderr=True)
out = Console()


class RankZeroFilter(logging.Filter):
    """Only rank 0 logs INFO and below under torchrun; warnings come from every rank."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or os.environ.get("RANK", "0") == "0"


def setup_logging(verbose: bool = False) -> None:
    """Route the root logger through ``console`` (rank-zero filtered), quieting chatty libraries."""
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=verbose)
    handler.addFilter(RankZeroFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("httpx", "urllib3", "filelock", "PIL", "datasets", "lm_eval", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
