"""The ``attack`` split: test images perturbed once by PGD against the base model (shipped file)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import assets


@dataclass(frozen=True)
class AttackSample:
    id: str
    image: np.ndarray  # (H, W, 3) uint8
    question: str
    answer: str


def attack_samples(path: Path = assets.ATTACK_FILE) -> list[AttackSample]:
    data = np.load(path)
    return [AttackSample(str(i), img, str(q), str(a))
            for i, img, q, a in zip(data["ids"], data["images"], data["questions"], data["answers"])]
