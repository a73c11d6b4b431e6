"""The run directory's life cycle: owned by one run at a time, refuse to clobber an earlier run, clear it on
--overwrite, trim on resume.

An existing, non-empty run directory is only written into with ``resume`` (continue it) or ``overwrite``
(replace it): otherwise a second run would silently replace the first's metrics and adapter, and the
first's higher-numbered checkpoints would make the new run prune its own. ``--overwrite`` removes only
what a run writes (``RUN_OUTPUTS``), never other files a user keeps there. While a run plays, it holds the
directory's lock (``lock``), and a write the disk refuses (full, read-only, forbidden) is one sentence.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

from safetensors import SafetensorError

from .. import distributed
from ..errors import ConfigError, UnigameError
from ..paths import WRITE_ONLY_ERRORS, blocking_file, disk_errno, failed_path, unwritable
from . import checkpoint, lock

log = logging.getLogger(__name__)

RUN_OUTPUTS = ("config.yaml", "metrics.jsonl", "adapter", "perturber.safetensors", "checkpoints", "samples",
               "before.json", "before_after.json", "divergence.json", "report.html", "tensorboard",
               "wandb", "wandb-run-id", "mlflow-run-id")


def check_path(run_dir: Path) -> None:
    """Refuse an ``--output`` that is, or lies under, a file (no side effect)."""
    blocker = blocking_file(run_dir)
    if blocker == run_dir:
        raise ConfigError(f"The run directory '{run_dir}' is an existing file.", "Pass another --output DIR.")
    if blocker is not None:
        raise ConfigError(f"Cannot create the run directory '{run_dir}': '{blocker}' is a file.",
                          "Pass another --output DIR.")


def check_output(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a bad or occupied ``--output`` before anything heavy loads (every rank runs this, no side effect)."""
    check_path(run_dir)
    if resume and not overwrite and (run_dir / "adapter").is_dir() and not checkpoint.has_checkpoint(run_dir):
        raise ConfigError(f"Cannot resume '{run_dir}': it holds a finished run's adapter but no checkpoint.",
                          "Pass --overwrite to train it again from step 0, or --output DIR for a new run.")
    if resume or overwrite or not run_dir.is_dir() or all(p.name == lock.LOCK_FILE for p in run_dir.iterdir()):
        return
    raise ConfigError(
        f"The run directory '{run_dir}' already holds a run.",
        f"Pass --resume to continue it (unigame train --resume {run_dir}), --overwrite to replace it, "
        "or --output DIR for a new run.",
    )


def create(run_dir: Path, clear: bool) -> None:
    """Make the run directory; with ``clear``, first remove an earlier run's outputs from it."""
    if clear and run_dir.is_dir():
        for name in RUN_OUTPUTS:
            path = run_dir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    for tmp in (run_dir / "checkpoints").glob(".tmp-step-*"):  # a checkpoint a killed run was writing
        shutil.rmtree(tmp, ignore_errors=True)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the run directory '{run_dir}': {exc.strerror or exc}.",
                          "Pass another --output DIR.") from exc


@contextlib.contextmanager
def owned(run_dir: Path, main: bool) -> Iterator[None]:
    """The run inside the block owns ``run_dir``: rank 0 makes the folder and takes its lock (the first write
    there, so a full or read-only disk stops the run before the model loads), and every rank learns whether it
    could. A write the disk refuses inside the block is one sentence naming the folder. At the end the lock is
    released, and a folder this call made is removed again if the run left it empty (a mistyped --data leaves
    no empty --output behind)."""
    check_path(run_dir)
    made = not run_dir.exists()
    held, refusal = None, None
    if main:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            held = lock.acquire(run_dir)
        except UnigameError as exc:
            refusal = (type(exc), exc.message, exc.hint)
        except OSError as exc:
            error = unwritable(run_dir, exc) or ConfigError(
                f"Cannot create the run directory '{run_dir}': {exc.strerror or exc}.", "Pass another --output DIR.")
            refusal = (type(error), error.message, error.hint)
    refusal = distributed.gather_objects(refusal)[0]  # rank 0's outcome, on every rank
    try:
        if refusal is not None:
            kind, message, hint = refusal
            raise kind(message, hint)
        yield
    except (OSError, SafetensorError) as exc:
        if not _refused_write(run_dir, exc):
            raise
        raise unwritable(run_dir, exc) from exc  # type: ignore[misc]
    finally:
        if held is not None:
            held.release()
        if main and made and run_dir.is_dir() and not any(run_dir.iterdir()):
            with contextlib.suppress(OSError):
                run_dir.rmdir()


def _refused_write(run_dir: Path, exc: BaseException) -> bool:
    """Whether ``exc`` is the disk refusing a write into ``run_dir`` (not, say, an unreadable model file)."""
    code = disk_errno(exc)
    if code is None:
        return False
    where = failed_path(exc)
    if where is None:
        return code in WRITE_ONLY_ERRORS  # a permission error without a path could be a read anywhere
    return where.resolve().is_relative_to(run_dir.resolve())


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop the metric lines logged after ``step`` (the run resumes there and logs those steps again)."""
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash
        if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))
