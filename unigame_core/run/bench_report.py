"""What ``unigame bench`` reports: the table on stdout, and ``bench.json`` + ``bench.md`` in its output folder.

The files are rewritten after every round, so an interrupted run keeps what it measured (``rounds_done``
says how far it got). ``bench.json`` holds every figure: each block's median seconds, its ratio to the SFT
step, every timed repetition, its warm-up and its peak memory (``peak_memory`` says which kind), the
device, model, dtype, batch size, threads and overrides, and the answering speeds (``--eval``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .measure import BlockTiming

SCHEMA_VERSION = 1
TARGET = 1.5  # the amortised UniGame step's cost, in SFT steps, the project aims at


def _number(value: float, digits: int = 6) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


@dataclass
class BenchReport:
    model: str
    backend: str
    device: str
    dtype: str
    threads: int
    batch_size: int
    steps: int
    peak_memory: str
    overrides: list[str] = field(default_factory=list)
    weights: str = ""  # "" for the checkpoint's own; else what they are (random, or a tiny stand-in's label)
    blocks: list[BlockTiming] = field(default_factory=list)
    rounds_done: int = 0
    answering: dict[int, float | str] = field(default_factory=dict)
    answering_samples: int = 0
    max_new_tokens: int = 0

    def ratio(self, timing: BlockTiming) -> float:
        """``timing``'s median over the SFT step's (the first block); NaN before the first round."""
        sft = self.blocks[0].seconds
        return timing.seconds / sft if sft > 0 else float("nan")

    @property
    def unigame_ratio(self) -> float:
        return self.ratio(self.blocks[-1]) if self.blocks else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "model": self.model, "weights": self.weights or "checkpoint",
            "backend": self.backend, "device": self.device,
            "dtype": self.dtype, "threads": self.threads, "batch_size": self.batch_size, "steps": self.steps,
            "rounds_done": self.rounds_done, "overrides": self.overrides, "peak_memory": self.peak_memory,
            "unigame_over_sft": _number(self.unigame_ratio, 3), "target": TARGET,
            "blocks": [{"name": t.name.strip(), "seconds": _number(t.seconds), "x_sft": _number(self.ratio(t), 3),
                        "peak_gib": _number(t.peak_gib, 3), "warmup_s": _number(t.warmup_s),
                        "times": [round(x, 5) for x in t.times]} for t in self.blocks],
            "answering": {"samples": self.answering_samples, "max_new_tokens": self.max_new_tokens,
                          "samples_per_s": {str(b): _number(r, 3) if isinstance(r, float) else r
                                            for b, r in self.answering.items()}} if self.answering else None,
        }

    def title(self) -> str:
        name = f"{self.model} [{self.weights}]" if self.weights else self.model
        return (f"unigame bench: {name} | batch {self.batch_size} | {self.dtype} | {self.device} | "
                f"{self.threads} threads")

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(block, median s, x SFT, peak GiB) as printed."""
        def fmt(x: float, spec: str) -> str:
            return "-" if math.isnan(x) else format(x, spec)

        return [(t.name, fmt(t.seconds, ".4f"), fmt(self.ratio(t), ".2f"), fmt(t.peak_gib, ".2f"))
                for t in self.blocks]

    def markdown(self) -> str:
        lines = [f"{self.title()} | {self.rounds_done} of {self.steps} rounds",
                 "", f"peak GiB: {self.peak_memory}", "",
                 "| block | median s | x SFT | peak GiB |", "|---|---|---|---|"]
        lines += [f"| {name.strip()} | {s} | {x} | {p} |" for name, s, x, p in self.rows()]
        if self.answering:
            lines += ["", f"Answering ({self.answering_samples} samples, at most {self.max_new_tokens} new tokens):",
                      "", "| batch | samples/s |", "|---|---|"]
            lines += [f"| {b} | {r:.2f} |" if isinstance(r, float) else f"| {b} | {r} |"
                      for b, r in self.answering.items()]
        return "\n".join(lines) + "\n"

    def write(self, folder: Path) -> Path:
        """Write ``bench.json`` and ``bench.md`` into ``folder``; returns the JSON's path."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "bench.json"
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        (folder / "bench.md").write_text(self.markdown())
        return path

    def print(self) -> None:
        from rich.table import Table

        from ..console import out

        table = Table("block", "median s", "x SFT", "peak GiB", title=self.title(),
                      caption=f"peak GiB: {self.peak_memory}")
        for row in self.rows():
            table.add_row(*row)
        out.print(table)
        for b, r in self.answering.items():
            shown = f"{r:.2f} samples/s" if isinstance(r, float) else r
            out.print(f"answering at batch {b}: {shown}", highlight=False)
        out.print(f"UniGame / SFT step cost ratio: {self.unigame_ratio:.2f} (target <= {TARGET})", highlight=False)
