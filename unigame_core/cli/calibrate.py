"""``unigame calibrate``: the eps at which the adversary's decodes still keep their labels, measured on val."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ..config import build_config
from ..errors import ConfigError
from ..paths import check_output_file
from .common import out, user_errors


def _grid(text: str) -> list[float]:
    try:
        grid = sorted({float(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise ConfigError(f"--eps '{text}' is not a comma-separated list of numbers.", "Example: --eps 0,0.05,0.1")
    if not grid:
        raise ConfigError(f"--eps '{text}' names no eps.", "Example: --eps 0,0.05,0.1")
    if grid[0] < 0:
        raise ConfigError(f"--eps '{text}' has a negative eps ({grid[0]:g}); every eps must be >= 0.",
                          "Example: --eps 0,0.05,0.1")
    return grid


@user_errors
def calibrate(
    ctx: typer.Context,
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model alias, backend or checkpoint folder."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config (backend settings)."),
    data: Optional[str] = typer.Option(
        None, "--data", "-d", help="Held-out data (default: the training data's val split, e.g. shapes:val)."
    ),
    limit: int = typer.Option(256, "--limit", help="Samples to measure."),
    eps: str = typer.Option("0,0.02,0.05,0.1,0.15,0.2,0.25,0.3,0.4,0.5", "--eps", help="The eps grid to measure."),
    target: float = typer.Option(0.8, "--target", help="Keep rate the chosen eps must reach."),
    probe: str = typer.Option("pixel", "--probe", help="delta's direction: pixel (changes the decode most) or random."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="Samples per batch."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Also write the measurements as JSON here."),
) -> None:
    """Measure how many decodes keep their labels at each eps on held-out data, and print the eps to use
    (game.eps_max). Extra arguments are key=value config overrides."""
    if not 0 < target <= 1:
        raise ConfigError(f"--target must be in (0, 1], got {target:g}.")
    for flag, value in (("--limit", limit), ("--batch-size", batch_size)):
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}.")
    grid = _grid(eps)
    if output is not None:
        check_output_file(output)
    if probe not in ("pixel", "random"):
        raise ConfigError(f"--probe '{probe}' is not one of pixel, random.")
    cfg = build_config(model, config, list(ctx.args))
    from ..run.calibration import held_out_spec, run_calibration  # heavy imports start here

    result = run_calibration(cfg, held_out_spec(cfg, data), limit, grid, target, batch_size, probe)
    from rich.table import Table

    table = Table(title=f"eps calibration, {probe} probe ({result.n} samples; "
                        f"clean accuracy {result.clean_accuracy:.1%}, "
                        f"delta = 0 decode {result.round_trip_accuracy:.1%})")
    for column in ("eps", "keep rate", "accuracy", "token ids changed", "adversary CE gain"):
        table.add_column(column, justify="right")
    for p in result.points:
        mark = " *" if p.eps == result.eps else ""
        changed = "-" if p.tokens_changed != p.tokens_changed else f"{p.tokens_changed:.1%}"
        gain = "-" if p.ce_gain != p.ce_gain else f"{p.ce_gain:+.3f}"
        table.add_row(f"{p.eps:g}{mark}", f"{p.keep_rate:.1%}", f"{p.accuracy:.1%}", changed, gain)
    out.print(table)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result.as_dict(), indent=2))
    if result.eps is None:
        out.print(f"No eps of the grid keeps {target:.0%} of the labels; measure smaller ones (--eps).")
        raise typer.Exit(1)
    chosen = next(p for p in result.points if p.eps == result.eps)
    strength = "" if chosen.ce_gain != chosen.ce_gain else f"; the refined adversary gains {chosen.ce_gain:+.3f} nats"
    out.print(f"use: game.eps_max={result.eps:g}   (keeps >= {target:.0%} of the labels on {result.n} held-out "
              f"samples{strength})", markup=False, highlight=False)
