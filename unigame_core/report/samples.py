"""PNG grids of clean | adversarial pairs, written straight from device tensors, and finding them again.

torch is imported inside ``save_pairs`` only: the report (``unigame report``) lists grids without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


def save_pairs(clean: Tensor, adversarial: Tensor, path: Path, max_rows: int = 8) -> Path:
    """One row per sample: the clean image left, its adversarial decode right."""
    import torch
    from PIL import Image

    n = min(len(clean), len(adversarial), max_rows)
    rows = torch.cat([clean[:n], adversarial[:n]], dim=3)  # (n, 3, S, 2S)
    grid = torch.cat(list(rows), dim=1)  # (3, n*S, 2S)
    array = (grid.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def sample_grids(run_dir: Path) -> list[tuple[int, Path]]:
    """The run's sample grids (``samples/step-N.png``) as (step, path), in step order."""
    found = []
    for path in (Path(run_dir) / "samples").glob("step-*.png"):
        number = path.stem.removeprefix("step-")
        if number.isdigit():
            found.append((int(number), path))
    return sorted(found)
