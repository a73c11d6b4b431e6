"""``unigame bench``: cost of an SFT step vs a full UniGame step, and of each part."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..config import build_config
from ..errors import ConfigError
from ..paths import check_output_folder
from .common import user_errors


@user_errors
def bench(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model alias, backend or checkpoint folder."),
    batch_size: int = typer.Option(8, "--batch-size", "-b", help="Samples per step."),
    steps: int = typer.Option(5, "--steps", help="Timed repetitions of each block (after one warm-up)."),
    random_weights: bool = typer.Option(False, "--random-weights", help="Build the architecture with random weights."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config."),
    output: Path = typer.Option(Path("runs/bench"), "--output", "-o", help="Where bench.json and bench.md go."),
    answering: bool = typer.Option(False, "--eval", help="Also time greedy answering at batch 1 and --batch-size."),
    max_new_tokens: int = typer.Option(16, "--max-new-tokens", help="Answer length for --eval."),
) -> None:
    """Time the blocks of a step and print their ratio to an SFT step. Extra args: key=value overrides."""
    if steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {steps}.")
    if batch_size < 1 or max_new_tokens < 1:
        raise ConfigError(f"--batch-size and --max-new-tokens must be at least 1, got {batch_size} and "
                          f"{max_new_tokens}.")
    check_output_folder(output)
    overrides = [*ctx.args, f"train.batch_size={batch_size}"]
    cfg = build_config(model, config, overrides)
    from ..run.bench import run_bench

    run_bench(cfg, steps=steps, random_weights=random_weights, output=output, overrides=list(ctx.args),
              answering=sorted({1, batch_size}) if answering else (), max_new_tokens=max_new_tokens)
