"""The sample grids of a run: the adversary's latest decodes next to the delta = 0 round trip of the same images,
with the model's answers to all three (clean, round trip, adversarial).

Without the round trip a reader credits the adversary with the decoder's own damage: with eps = 0 the
"adversarial" image IS the round trip. The round trip and the answers are made here, at sample steps only,
after the step's updates, under ``torch.no_grad`` and with the model in eval mode (no dropout: no draw from any
random stream, no gradient, no change to the training that follows; ``tests/run/test_sample_capture.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..game.couplings import Coupling
from ..interfaces import Backend, VQABatch
from ..report.samples import ANSWER_KEYS, COLUMNS, LEGACY_COLUMNS, save_grid, save_note

MAX_ROWS = 8


@dataclass
class TurnSamples:
    """The adversary's latest decodes and what they were made from (its first ``MAX_ROWS`` samples)."""

    step: int
    clean: Tensor
    adversarial: Tensor
    questions: list[str]
    answers: list[str]

    @classmethod
    def of(cls, step: int, batch: VQABatch, adversarial: Tensor) -> TurnSamples:
        n = min(len(adversarial), MAX_ROWS)
        return cls(step, batch.images[:n].detach(), adversarial[:n].detach(), list(batch.questions[:n]),
                   list(batch.answers[:n]))


@torch.no_grad()
def write_samples(backend: Backend, coupling: Coupling, turn: TurnSamples, step: int, folder: Path) -> Path:
    """``folder/step-N.png`` (clean | round trip | adversarial per row) and its note ``step-N.json``."""
    modes = {module: module.training for module in backend.model.modules()}  # mixed: frozen parts in eval
    backend.model.eval()
    try:
        clean = turn.clean.float()
        _, round_trip = coupling.round_trip(backend, coupling.clean_representation(backend, clean))
        images = [clean] + ([round_trip.float()] if round_trip is not None else []) + [turn.adversarial.float()]
        said = backend.understander.generate(torch.cat(images), turn.questions * len(images))
    finally:
        for module, training in modes.items():
            module.training = training
    n = len(turn.questions)
    keys = ANSWER_KEYS if round_trip is not None else (ANSWER_KEYS[0], ANSWER_KEYS[2])
    rows = [{"question": q, "answer": a, "answers": {k: said[j * n + i] for j, k in enumerate(keys)}}
            for i, (q, a) in enumerate(zip(turn.questions, turn.answers))]
    path = save_grid(images, folder / f"step-{step}.png")
    save_note(path.with_suffix(".json"), step, turn.step, rows, COLUMNS if round_trip is not None else LEGACY_COLUMNS)
    return path
