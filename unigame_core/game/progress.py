"""The rich progress bar of ``unigame train``: step, both losses, eps, buffer fill, gate pass, samples/s."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..cli.common import console
from .step import StepMetrics


def _fmt(v: float) -> str:
    return "-" if v != v else f"{v:.3f}"


class TrainProgress:
    def __init__(self, total: int, start: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar = Progress(
            TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not enabled, transient=False,
        )
        self.task = self.bar.add_task("train", total=total, completed=start, info="")

    def __enter__(self) -> TrainProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def update(self, step: int, m: StepMetrics, rate: float) -> None:
        info = (f"U {_fmt(m.loss_u)} | C(adv CE) {_fmt(m.ce_adv)} | eps {m.eps:.3g} | buf {m.buffer_size} "
                f"| gate {_fmt(m.gate_pass)} | {rate:.1f} samples/s")
        self.bar.update(self.task, completed=step, info=info)
