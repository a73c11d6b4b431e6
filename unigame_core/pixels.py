"""Pixel normalisation shared by backends: ``[0, 1]`` pixels <-> a model's ``(x - mean) / std`` space."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class PixelNormalizer(torch.nn.Module):
    """Differentiable both ways; buffers follow the module's device."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, pixels: Tensor) -> Tensor:
        return (pixels.float() - self.mean) / self.std

    def inverse(self, values: Tensor) -> Tensor:
        """Model-space values -> ``[0, 1]`` pixels (clamped, as processors' postprocessing does)."""
        return (values.float() * self.std + self.mean).clamp(0, 1)
