"""Progress of ``unigame train``: plain lines every log_every steps when piped, the rich bar on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from unigame_core.game.players import StepMetrics
from unigame_core.run.progress import TrainProgress


def play(console: Console, total: int = 7, start: int = 0, every: int = 3) -> list[str]:
    with TrainProgress(total=total, start=start, every=every, console=console) as progress:
        for step in range(start + 1, total + 1):
            adversary = step % 2 == 1  # the adversary plays odd steps; its CE is NaN on the others
            m = StepMetrics(loss_u=1.0 / step, ce_clean=0.5, ce_adv=float(step) if adversary else float("nan"),
                            gate_pass=0.75, buffer_size=step, eps=0.02)
            progress.update(step, m, rate=10.0 * step)
    return console.file.getvalue().splitlines()  # type: ignore[attr-defined]


def test_piped_output_gets_one_plain_line_per_log_every_steps_and_the_last() -> None:
    lines = play(Console(file=io.StringIO(), force_terminal=False, width=80))
    assert [line.split()[1] for line in lines] == ["3/7", "6/7", "7/7"]
    first, second = lines[0], lines[1]
    assert "loss_u=0.333" in first and "ce_clean=0.500" in first and "buffer=3" in first and "gate=0.750" in first
    assert "ce_adv=3.000" in first
    assert "ce_adv=5.000" in second  # step 6 is not the adversary's: its latest turn (step 5) is shown
    assert "50.0 samples/s" in second  # the mean over steps 4-6
    assert all("ETA" in line and "elapsed" in line for line in lines)
    assert all(len(line) > 80 for line in lines)  # one line each, never wrapped at the console width


def test_a_resumed_run_counts_from_its_start() -> None:
    lines = play(Console(file=io.StringIO(), force_terminal=False), total=8, start=5, every=3)
    assert [line.split()[1] for line in lines] == ["6/8", "8/8"]


def test_a_terminal_gets_the_bar_not_the_lines() -> None:
    text = "\n".join(play(Console(file=io.StringIO(), force_terminal=True, width=160)))
    assert "loss_u=" not in text and "U 0.143" in text  # the bar's own fields, at the last step
