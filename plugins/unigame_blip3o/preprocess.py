"""Image preprocessing for Qwen2.5-VL in two halves: the data-loader half (uint8 resize + pad) and the
device half (normalise + patchify), so no PIL or processor call happens inside a training step.

``Qwen2VLImageProcessor`` resizes to sides that are multiples of ``patch * merge`` (28), rescales,
normalises with OpenAI CLIP's mean/std, repeats a still image ``temporal_patch_size`` times and cuts it
into flattened ``(C * T * p * p)`` patches ordered by 2 x 2 merge window. :func:`patchify` reproduces that
layout with one reshape/permute on the device (the tests compare it with the processor's output).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image
from torch import Tensor
from unigame_core.pixels import PixelNormalizer, SquareImageTransform  # noqa: F401  (PixelNormalizer re-exported)


def patchify(values: Tensor, patch: int, merge: int, temporal: int) -> tuple[Tensor, Tensor]:
    """Normalised ``(B, C, S, S)`` -> (``(B * g * g, C * T * p * p)`` patches, ``(B, 3)`` grid_thw), g = S / p."""
    b, c, s, _ = values.shape
    if s % (patch * merge):
        raise ValueError(f"image side {s} is not a multiple of patch * merge = {patch * merge}")
    g = s // patch
    x = values.unsqueeze(1).expand(b, temporal, c, s, s)
    x = x.reshape(b, temporal, c, g // merge, merge, patch, g // merge, merge, patch)
    x = x.permute(0, 3, 6, 4, 7, 2, 1, 5, 8)  # (B, H/m, W/m, m, m, C, T, p, p)
    grid = torch.tensor([[1, g, g]], dtype=torch.long).expand(b, 3)
    return x.reshape(b * g * g, c * temporal * patch * patch), grid


class SquareTransform(SquareImageTransform):
    """``uint8 (3, H, W) -> uint8 (3, S, S)``: bicubic PIL resize of the long side to ``S``, centred pad with the
    colour that normalises to zero (the core's :class:`~unigame_core.pixels.SquareImageTransform`)."""

    def __init__(self, size: int, background: Sequence[int]) -> None:
        super().__init__(size, background, Image.Resampling.BICUBIC)
