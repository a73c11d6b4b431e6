"""``unigame report RUN_DIR``: (re)write a run directory's report.html from its files alone."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import out, user_errors


@user_errors
def report(run_dir: Path = typer.Argument(..., help="A run directory written by 'unigame train'.")) -> None:
    """Write RUN_DIR/report.html: curves, game health, sample grids, before/after, config (no network)."""
    from ..report.page import write_report

    path = write_report(run_dir)
    out.print(str(path), highlight=False, markup=False, soft_wrap=True)
