"""Sample grids: PNG rows of clean | delta = 0 round trip | adversarial decode, written straight from device
tensors, each with a JSON note of the questions, answers and the model's answers; and finding them again.

``samples/step-N.png`` holds one row per sample and one panel per column; ``samples/step-N.json`` says what the
columns are and, per row, the question, the expected answer and the model's answer to each panel. A grid from
an earlier version has no note: two columns, clean | adversarial. torch is imported inside ``save_grid`` only:
the report (``unigame report``) reads grids without it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image
    from torch import Tensor

log = logging.getLogger(__name__)

#: the panels of a row, left to right, and the keys of the model's answers to them in the note
COLUMNS = ("clean", "round trip (delta = 0)", "adversarial decode")
ANSWER_KEYS = ("clean", "round_trip", "adversarial")
LEGACY_COLUMNS = ("clean", "adversarial decode")


def save_grid(columns: Sequence[Tensor], path: Path, max_rows: int = 8) -> Path:
    """One row per sample, one panel per tensor of ``columns`` (each ``(B, 3, S, S)`` in [0, 1]), left to right."""
    import torch
    from PIL import Image as PILImage

    n = min(min(len(c) for c in columns), max_rows)
    rows = torch.cat([c[:n].detach().float().cpu() for c in columns], dim=3)  # (n, 3, S, k*S)
    grid = torch.cat(list(rows), dim=1)  # (3, n*S, k*S)
    array = (grid.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(array).save(path)
    return path


def save_note(path: Path, step: int, adversary_step: int, rows: Sequence[dict[str, Any]],
              columns: Sequence[str] = COLUMNS) -> Path:
    """The grid's note (``step-N.json`` next to ``step-N.png``): its columns and, per row, question and answers."""
    path.write_text(json.dumps({"step": step, "adversary_step": adversary_step, "columns": list(columns),
                                "rows": list(rows)}, indent=1))
    return path


@dataclass
class SampleGrid:
    """One grid found in a run directory, with its note (None: a grid from before notes were written)."""

    step: int
    path: Path
    note: dict[str, Any] | None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.note["columns"]) if self.note else LEGACY_COLUMNS

    @property
    def rows(self) -> list[dict[str, Any]]:
        return list(self.note["rows"]) if self.note else []

    def panels(self, max_rows: int) -> list[list[Image]]:
        """The grid cut into its panels: up to ``max_rows`` rows of one image per column."""
        from PIL import Image as PILImage

        with PILImage.open(self.path) as img:
            img = img.convert("RGB")
            width = img.width // len(self.columns)
            n = min(max(len(self.rows), 1), img.height // max(width, 1), max_rows)
            return [[img.crop((c * width, r * width, (c + 1) * width, (r + 1) * width)) for c in
                     range(len(self.columns))] for r in range(n)]


def _note(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        note = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("cannot read %s for the report: %s", path, exc)
        return None
    ok = isinstance(note, dict) and isinstance(note.get("columns"), list) and isinstance(note.get("rows"), list)
    return note if ok and note["columns"] else None


def sample_grids(run_dir: Path) -> list[SampleGrid]:
    """The run's sample grids (``samples/step-N.png``, with ``step-N.json`` when written), in step order."""
    found = []
    for path in (Path(run_dir) / "samples").glob("step-*.png"):
        number = path.stem.removeprefix("step-")
        if number.isdigit():
            found.append(SampleGrid(int(number), path, _note(path.with_suffix(".json"))))
    return sorted(found, key=lambda g: g.step)
