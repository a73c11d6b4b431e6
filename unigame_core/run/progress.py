"""How ``unigame train`` shows its progress: a rich bar on a terminal, plain lines when piped.

A rich bar redraws one line in place, which a pipe or a log file (``unigame train | tee log``, a batch
job's stdout) cannot show: there it would appear once, at the end. So when the console is not a
terminal, every ``every`` steps (``train.log_every``) and at the last step one self-contained line is
written instead: step, the understander's loss, the adversary's latest CE, eps, buffer fill, gate pass,
the window's game health (round-trip CE, delta saturation, buffer admissions/candidates and draws, see
``health.py``), throughput and ETA.

On a terminal the bar always keeps the step count and the ETA; the figures beside it are added in order
of importance (the understander's loss, the adversary's CE, throughput, gate, eps, buffer, health) as long
as they fit the console's width, so an 80-column terminal shows the first few instead of cutting the line.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from ..console import console as default_console
from ..game.health import GameHealth
from ..game.players import StepMetrics

if TYPE_CHECKING:
    from rich.progress import Task


def _fmt(v: float) -> str:
    return "-" if v != v else f"{v:.3f}"


def _clock(seconds: float) -> str:
    seconds = max(int(round(seconds)), 0)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class EtaColumn(TimeRemainingColumn):
    """The time remaining, labelled: ``ETA 0:12:34``."""

    def render(self, task: Task) -> Text:
        return Text.assemble(("ETA ", "cyan"), super().render(task))


WIDE = 140  # columns from which the bar is full length and the elapsed time is shown


class TrainProgress:
    """The progress display of one training run (shown on rank zero only: ``enabled``)."""

    def __init__(self, total: int, start: int, enabled: bool = True, every: int = 10,
                 console: Console | None = None, health: GameHealth | None = None) -> None:
        self.console = console or default_console
        self.enabled, self.total, self.start, self.every = enabled, total, start, max(int(every), 1)
        self.plain = enabled and not self.console.is_terminal
        wide = self.console.width >= WIDE
        bar_width = 40 if wide else 10
        timing = (TimeElapsedColumn(), EtaColumn()) if wide else (EtaColumn(),)
        self.bar = Progress(
            TextColumn("[bold]train"), BarColumn(bar_width=bar_width), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), *timing, console=self.console, disable=not enabled or self.plain,
            transient=False,
        )
        # what the other columns take (one space between columns): the rest is the figures' room
        steps = 2 * len(str(total)) + 1
        self.fixed = len("train") + bar_width + steps + len("ETA 0:00:00") + (len("0:00:00") + 1 if wide else 0) + 4
        self.task = self.bar.add_task("train", total=total, completed=start, info="")
        self.began = time.perf_counter()
        self.rates: list[float] = []
        self.adversary: StepMetrics | None = None  # its latest turn: ce_adv and the gate are NaN between turns
        self.health = health

    def __enter__(self) -> TrainProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def update(self, step: int, m: StepMetrics, rate: float) -> None:
        if m.ce_adv == m.ce_adv:
            self.adversary = m
        a = self.adversary or m
        if not self.plain:
            figures = [f"U {_fmt(m.loss_u)}", f"adv {_fmt(a.ce_adv)}", f"{rate:.1f} samples/s",
                       f"gate {_fmt(a.gate_pass)}", f"eps {m.eps:.3g}", f"buf {m.buffer_size}"]
            if self.health is not None:
                figures.append(self.health.brief())
            self.bar.update(self.task, completed=step, info=fitted(figures, self.console.width - self.fixed))
            return
        self.rates.append(rate)
        if step % self.every and step != self.total:
            return
        elapsed = time.perf_counter() - self.began
        eta = elapsed / max(step - self.start, 1) * max(self.total - step, 0)
        line = (f"step {step}/{self.total} loss_u={_fmt(m.loss_u)} ce_clean={_fmt(m.ce_clean)} "
                f"ce_adv={_fmt(a.ce_adv)} eps={a.eps:.3g} gate={_fmt(a.gate_pass)} buffer={m.buffer_size} "
                f"{self._health()}{sum(self.rates) / len(self.rates):.1f} samples/s elapsed {_clock(elapsed)} "
                f"ETA {_clock(eta)}")
        self.rates.clear()
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _health(self) -> str:  # the plain lines
        return f"{self.health.brief()} | " if self.health is not None else ""


def fitted(figures: list[str], room: int, sep: str = " | ") -> str:
    """The leading ``figures`` (most important first) that fit in ``room`` columns, joined by ``sep``."""
    shown: list[str] = []
    for figure in figures:
        if len(sep.join([*shown, figure])) > room:
            break
        shown.append(figure)
    return sep.join(shown)
