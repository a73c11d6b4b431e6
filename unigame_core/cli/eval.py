"""``unigame eval``: run evaluation suites on official data with official metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import user_errors


@user_errors
def evaluate(
    suite: str = typer.Option(
        ..., "--suite", "-s", metavar="SUITE[,SUITE...]", help="Comma-separated suites, e.g. vqav2,mmmu,pope."
    ),
    model: Optional[str] = typer.Option(
        None, "--model", "-m", metavar="NAME|DIR", help="Model alias, backend or checkpoint folder."
    ),
    adapter: Optional[Path] = typer.Option(
        None, "--adapter", metavar="DIR", help="A run directory (or adapter folder) to load."
    ),
    data_root: Optional[Path] = typer.Option(
        None, "--data-root", metavar="DIR", help="Folder holding each suite's data (docs/evaluation.md)."
    ),
    limit: Optional[int] = typer.Option(None, "--limit", help="Evaluate at most N samples per suite."),
    batch_size: int = typer.Option(16, "--batch-size", help="Answers generated per batch."),
    output: Path = typer.Option(
        Path("runs/eval"), "--output", "-o", metavar="DIR", help="Where results.json and predictions go."
    ),
    config: Optional[str] = typer.Option(
        None, "--config", "-c", metavar="FILE", help="YAML config (backend settings)."
    ),
    suite_option: Optional[list[str]] = typer.Option(
        None,
        "--suite-option",
        "-O",
        metavar="SUITE.OPTION=VALUE",
        help="SUITE.OPTION=VALUE, repeatable, e.g. -O shapes.samples=500 (docs/evaluation.md).",
    ),
    allow_outside_data_root: bool = typer.Option(
        False, "--allow-outside-data-root",
        help="Let the data files name images outside their suite's data folder (trusted data only).",
    ),
) -> None:
    """Evaluate a model (optionally with a trained adapter) on one or more suites."""
    from ..eval.runner import run_eval

    run_eval(
        suites=[s.strip() for s in suite.split(",") if s.strip()],
        model=model,
        adapter=adapter,
        data_root=data_root,
        limit=limit,
        batch_size=batch_size,
        output=output,
        config_file=config,
        suite_options=suite_option or [],
        allow_outside_data_root=allow_outside_data_root,
    )
