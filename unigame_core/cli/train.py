"""``unigame train``: play the UniGame min-max game and write a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..config import build_config, load_yaml
from ..errors import ConfigError
from .common import user_errors


@user_errors
def train(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(
        None, "--model", "-m", metavar="NAME|DIR", help="Model alias, backend or checkpoint folder."
    ),
    config: Optional[str] = typer.Option(
        None, "--config", "-c", metavar="FILE|PRESET", help="YAML file or preset (e.g. ablations/full)."
    ),
    data: Optional[str] = typer.Option(
        None, "--data", "-d", metavar="KIND:LOCATION", help="Training data: vqav2:DIR, jsonl:FILE or shapes:train."
    ),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="DIR", help="Run directory to write."),
    resume: Optional[Path] = typer.Option(
        None, "--resume", metavar="DIR", help="Continue the run in this directory from its last checkpoint."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the run already in the output directory (refused without it)."
    ),
) -> None:
    """Post-train a model with UniGame. Extra arguments are key=value config overrides (train.steps=20)."""
    overrides = list(ctx.args)
    if data:
        overrides.append(f"data.spec={data}")
    if output:
        overrides.append(f"train.output_dir={output}")
    if resume is not None:
        saved = resume / "config.yaml"
        if not saved.exists():
            raise ConfigError(
                f"Cannot resume: '{saved}' does not exist.", "Pass the run directory of an earlier 'unigame train'."
            )
        config = str(saved) if config is None else config
        overrides.append(f"train.output_dir={resume}")
        if model is None:
            model = str(load_yaml(saved).get("model", "")) or None
    cfg = build_config(model, config, overrides)
    from ..run.runner import run_training  # heavy imports start here

    run_training(cfg, resume=resume is not None, overwrite=overwrite)
