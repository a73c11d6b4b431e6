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


#: libraries whose INFO (and below) is noise in unigame's output; their warnings still show
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "filelock", "PIL", "datasets", "lm_eval", "fsspec", "open_clip",
                   "transformers", "huggingface_hub", "timm", "accelerate", "peft", "torch", "safetensors",
                   "matplotlib", "sqlitedict", "numexpr", "asyncio")


class QuietLibraries(logging.Filter):
    """Drops INFO and below from ``QUIET_LIBRARIES`` and from the root logger itself: open_clip logs with
    ``logging.info(...)``, and unigame's own code always logs through a named logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        top = record.name.partition(".")[0]
        return record.name != "root" and top not in QUIET_LIBRARIES


def setup_logging(verbose: bool = False) -> None:
    """Route the root logger through ``console`` (rank-zero filtered); other libraries' INFO is silenced
    (``QuietLibraries``) unless ``verbose``, which also turns on DEBUG."""
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=verbose)
    handler.addFilter(RankZeroFilter())
    if not verbose:
        handler.addFilter(QuietLibraries())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in QUIET_LIBRARIES:  # their INFO is not even formatted (a library may set a level of its own)
        logging.getLogger(noisy).setLevel(logging.NOTSET if verbose else logging.WARNING)
