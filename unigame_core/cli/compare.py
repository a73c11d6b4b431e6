"""``unigame compare A/results.json B/results.json``: is B better than A, by more than chance?

Per suite and metric: both values with n and 95 % intervals, and B - A with its interval and a verdict.
The difference is PAIRED (per question) when both runs have predictions for the same question ids
(``predictions/<suite>.jsonl`` next to each ``results.json``), unpaired otherwise; the table says which.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import DataError
from .common import user_errors


@user_errors
def compare(
    first: Path = typer.Argument(..., help="results.json of the baseline run (A), or its folder."),
    second: Path = typer.Argument(..., help="results.json of the run to judge (B), or its folder."),
) -> None:
    """Paired difference B - A with 95 % intervals per suite and metric, and a verdict."""
    from ..eval.judge import compare as compare_runs, load_results, print_comparison

    a, b = load_results(first), load_results(second)
    rows = compare_runs(a, b)
    if not rows:
        raise DataError(f"'{first}' and '{second}' share no suite and metric to compare.",
                        f"A has {', '.join(a) or 'no suites'}; B has {', '.join(b) or 'no suites'}.")
    print_comparison(rows, f"B - A   (A: {first}, B: {second})", before="A", after="B")
