"""Image preprocessing for Qwen2.5-VL in two halves: the data-loader half (uint8 resize + pad) and the
device half (normalise + patchify), so no PIL or processor call happens inside a training step.

``Qwen2VLImageProcessor`` resizes to sides that are multiples of ``patch * merge`` (28), rescales,
normalises with OpenAI CLIP's mean/std, repeats a still image ``temporal_patch_size`` times and cuts it
into flattened ``(C * T * p * p)`` patches ordered by 2 x 2 merge window. :func:`patchify` reproduces that
layout with one reshape/permute on the device (the tests compare it with the processor's output).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from unigame_core.pixels import PixelNormalizer  # noqa: F401  (re-exported)


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


class SquareTransform:
    """``uint8 (3, H, W) -> uint8 (3, S, S)``: bicubic resize of the long side to ``S``, centred pad with
    the colour that normalises to zero. Picklable (a plain object), so it runs in data-loader workers."""

    def __init__(self, size: int, background: Sequence[int]) -> None:
        self.size = int(size)
        self.background = tuple(int(c) for c in background)

    def __call__(self, image: Tensor) -> Tensor:
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a uint8 (3, H, W) RGB tensor, got {tuple(image.shape)} {image.dtype}")
        h, w = image.shape[1:]
        scale = self.size / max(h, w)
        height, width = max(1, round(h * scale)), max(1, round(w * scale))
        if (height, width) != (h, w):
            pil = Image.fromarray(image.permute(1, 2, 0).cpu().numpy())
            array = np.asarray(pil.resize((width, height), resample=Image.Resampling.BICUBIC), dtype=np.uint8)
            image = torch.from_numpy(array.copy()).permute(2, 0, 1)
        if height == width:
            return image.contiguous()
        canvas = torch.tensor(self.background, dtype=torch.uint8).view(3, 1, 1).expand(3, self.size, self.size).clone()
        top, left = (self.size - height) // 2, (self.size - width) // 2
        canvas[:, top : top + height, left : left + width] = image
        return canvas

    def __repr__(self) -> str:
        return f"SquareTransform(size={self.size}, background={self.background})"
