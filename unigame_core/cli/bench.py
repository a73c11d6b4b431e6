"""``unigame bench``: cost of an SFT step vs a full UniGame step, and of each part."""

from __future__ import annotations

from typing import Optional

import typer

from ..config import build_config
from ..errors import ConfigError
from .common import user_errors


@user_errors
def bench(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model alias, backend or checkpoint folder."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Samples per step."),
    steps: int = typer.Option(5, "--steps", help="Timed repetitions of each block (after one warm-up)."),
    random_weights: bool = typer.Option(False, "--random-weights", help="Build the architecture with random weights."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config."),
) -> None:
    """Time the blocks of a step and print their ratio to an SFT step. Extra args: key=value overrides."""
    if steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {steps}.")
    overrides = [*ctx.args, f"train.batch_size={batch_size}"]
    cfg = build_config(model, config, overrides)
    from ..run.bench import run_bench

    run_bench(cfg, steps=steps, random_weights=random_weights)
