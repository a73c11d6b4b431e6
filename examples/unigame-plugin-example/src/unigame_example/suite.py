"""A tiny self-contained suite: flat-colour images, 'what color is the image?'."""

from __future__ import annotations

from pathlib import Path

import torch

from unigame_core.interfaces import Backend, Suite, SuiteResult

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


class ColourSuite(Suite):
    def __init__(self, options: object, data_root: Path | None = None) -> None:
        self.n = int(getattr(options, "n", 16))
        self.size = int(getattr(options, "size", 32))

    def check_data(self) -> None:
        """Synthetic data: nothing to check."""

    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        n = min(self.n, limit or self.n)
        names = [list(COLOURS)[i % len(COLOURS)] for i in range(n)]
        s = backend.image_size
        pixels = torch.stack([torch.tensor(COLOURS[c]).view(3, 1, 1).expand(3, s, s) for c in names]).to(next(backend.model.parameters()).device)
        answers = backend.understander.generate(pixels, ["what color is the image?"] * n, max_new_tokens=3)
        scores = [float(a.strip().lower() == c) for a, c in zip(answers, names)]
        preds = [{"id": str(i), "question": "what color is the image?", "prediction": a, "references": [c], "score": sc}
                 for i, (a, c, sc) in enumerate(zip(answers, names, scores))]
        return SuiteResult(metrics={"accuracy": 100.0 * sum(scores) / max(n, 1)}, n=n, predictions=preds, details={})
