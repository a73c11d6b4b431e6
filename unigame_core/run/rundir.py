"""The run directory's life cycle: refuse to clobber an earlier run, clear it on --overwrite, trim on resume.

An existing, non-empty run directory is only written into with ``resume`` (continue it) or ``overwrite``
(replace it): otherwise a second run would silently replace the first's metrics and adapter, and the
first's higher-numbered checkpoints would make the new run prune its own. ``--overwrite`` removes only
what a run writes (``RUN_OUTPUTS``), never other files a user keeps there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError
from ..paths import blocking_file
from . import checkpoint

log = logging.getLogger(__name__)

RUN_OUTPUTS = ("config.yaml", "metrics.jsonl", "adapter", "perturber.safetensors", "checkpoints", "samples",
               "before.json", "before_after.json", "divergence.json", "report.html", "tensorboard",
               "wandb", "wandb-run-id", "mlflow-run-id")


def check_output(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse a bad or occupied ``--output`` before anything heavy loads (every rank runs this, no side effect)."""
    blocker = blocking_file(run_dir)
    if blocker == run_dir:
        raise ConfigError(f"The run directory '{run_dir}' is an existing file.", "Pass another --output DIR.")
    if blocker is not None:
        raise ConfigError(f"Cannot create the run directory '{run_dir}': '{blocker}' is a file.",
                          "Pass another --output DIR.")
    if resume and not overwrite and (run_dir / "adapter").is_dir() and not checkpoint.has_checkpoint(run_dir):
        raise ConfigError(f"Cannot resume '{run_dir}': it holds a finished run's adapter but no checkpoint.",
                          "Pass --overwrite to train it again from step 0, or --output DIR for a new run.")
    if resume or overwrite or not run_dir.is_dir() or not any(run_dir.iterdir()):
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
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the run directory '{run_dir}': {exc.strerror or exc}.",
                          "Pass another --output DIR.") from exc


@contextlib.contextmanager
def made_for(run_dir: Path) -> Iterator[None]:
    """Make the run directory for the setup inside the block; if the setup fails while the directory this call
    made is still empty, remove it again (a mistyped --data leaves no empty --output behind)."""
    made = not run_dir.exists()
    create(run_dir, clear=False)
    try:
        yield
    except BaseException:
        if made and run_dir.is_dir() and not any(run_dir.iterdir()):
            with contextlib.suppress(OSError):  # another rank may have removed it first
                run_dir.rmdir()
        raise


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
