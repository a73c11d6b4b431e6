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


def _bar_at(width: int, health: bool = True) -> str:
    """The bar's last frame on a terminal ``width`` columns wide (ANSI codes stripped)."""
    import re

    from unigame_core.config import HealthConfig
    from unigame_core.game.health import GameHealth

    console = Console(file=io.StringIO(), force_terminal=True, width=width)
    with TrainProgress(total=2000, start=0, console=console,
                       health=GameHealth(HealthConfig()) if health else None) as progress:
        for step in range(1, 4):
            m = StepMetrics(loss_u=1.25, ce_clean=0.5, ce_adv=2.5, gate_pass=0.75, buffer_size=3, eps=0.02)
            progress.update(step, m, rate=10.0)
    frame = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", console.file.getvalue()).split("\r")[-1]  # type: ignore[attr-defined]
    return frame.strip()


def test_an_80_column_terminal_keeps_the_step_the_eta_and_the_losses() -> None:
    for width in (80, 100):
        frame = _bar_at(width)
        assert "3/2000" in frame and "ETA 0:" in frame, frame
        assert "U 1.250" in frame and "adv 2.500" in frame, frame
        assert "…" not in frame and max(len(line) for line in frame.splitlines()) <= width, frame


def test_a_wide_terminal_shows_every_field() -> None:
    frame = _bar_at(200)
    for field in ("3/2000", "ETA 0:", "U 1.250", "adv 2.500", "gate 0.750", "eps 0.02", "buf 3", "samples/s",
                  "ce_rt="):
        assert field in frame, (field, frame)
