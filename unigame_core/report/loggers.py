"""The built-in metric loggers: TensorBoard (the default), and wandb, MLflow, trackio through extras.

Each imports its package in ``__init__`` only, so choosing one costs nothing until a run starts. A resumed
run continues the same logger run where the service allows it: TensorBoard purges the steps after the
checkpoint (they are replayed), wandb and MLflow reopen the run id saved in the run directory, trackio
reopens the run of the same name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .monitor import MetricLogger


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"steps": 5}}`` -> ``{"train.steps": 5}`` (services that take flat parameters)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _saved_id(path: Path, resume_step: int) -> str | None:
    """The service's run id a resumed run continues (None: start a new one)."""
    if not resume_step or not path.exists():
        return None
    return path.read_text().strip() or None


class TensorBoardLogger(MetricLogger):
    """Event files in ``RUN_DIR/tensorboard/``: ``tensorboard --logdir RUN_DIR/tensorboard``."""

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int = 0) -> None:
        from torch.utils.tensorboard import SummaryWriter

        log_dir = Path(run_dir) / "tensorboard"
        if not resume_step:  # a fresh run in an old run directory starts fresh curves, as metrics.jsonl does
            for old in log_dir.glob("events.out.tfevents.*"):
                old.unlink()
        # purge_step: on resume, TensorBoard hides what the first session logged after the checkpoint's step
        # (those steps run again), so each curve has one value per step.
        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=resume_step + 1 if resume_step else None)
        if not resume_step:
            import yaml

            self.writer.add_text("config", "```\n" + yaml.safe_dump(config, sort_keys=False) + "```", 0)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def close(self) -> None:
        self.writer.close()


class WandbLogger(MetricLogger):
    """Weights & Biases: project ``$WANDB_PROJECT`` (default ``unigame``), run named after the run directory;
    wandb's own settings (``WANDB_MODE=offline``, ``WANDB_ENTITY``...) apply."""

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int = 0) -> None:
        import wandb

        id_file = Path(run_dir) / "wandb-run-id"
        run_id = _saved_id(id_file, resume_step)
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT") or "unigame", name=Path(run_dir).name,
                              dir=str(run_dir), config=config, id=run_id, resume="allow" if run_id else None)
        id_file.write_text(str(self.run.id))

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        self.run.log(dict(scalars), step=step)

    def close(self) -> None:
        self.run.finish()


class MlflowLogger(MetricLogger):
    """MLflow: its own settings apply (``MLFLOW_TRACKING_URI``, ``MLFLOW_EXPERIMENT_NAME``); the configuration
    goes in as flat parameters (``train.steps``...)."""

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int = 0) -> None:
        import mlflow

        self.mlflow = mlflow
        id_file = Path(run_dir) / "mlflow-run-id"
        run_id = _saved_id(id_file, resume_step)
        run = mlflow.start_run(run_id=run_id, run_name=None if run_id else Path(run_dir).name)
        if run_id is None:
            mlflow.log_params({k: str(v)[:500] for k, v in flatten(config).items()})
        id_file.write_text(str(run.info.run_id))

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        self.mlflow.log_metrics(dict(scalars), step=step)

    def close(self) -> None:
        self.mlflow.end_run()


class TrackioLogger(MetricLogger):
    """trackio (local-first, wandb-like API): project ``$TRACKIO_PROJECT`` (default ``unigame``), run named
    after the run directory; ``trackio show`` opens its dashboard."""

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int = 0) -> None:
        import trackio

        self.trackio = trackio
        trackio.init(project=os.environ.get("TRACKIO_PROJECT") or "unigame", name=Path(run_dir).name,
                     config=config, resume="allow" if resume_step else "never")

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        self.trackio.log(dict(scalars), step=step)

    def close(self) -> None:
        self.trackio.finish()
