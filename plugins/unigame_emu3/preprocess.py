"""Emu3's image preprocessing in two halves: the data-loader half (resize + pad, uint8) and the device
half (normalise, and back).

``Emu3ImageProcessor`` resizes with PIL (its own ``resample`` filter) to a size whose sides are multiples
of 8 and whose area lies in ``[min_pixels, max_pixels]``, keeping the aspect ratio, then rescales and
normalises. The roles take square ``S x S`` pixels, so :class:`Emu3ImageTransform` resizes the long side
to ``S`` with the same PIL filter and pads to a centred square with the colour that normalises to the
mean (``int(mean * 255)``). For square inputs its output is exactly what the processor feeds the MoVQ.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from unigame_core.pixels import PixelNormalizer  # noqa: F401  (re-exported)


class Emu3ImageTransform:
    """``uint8 (3, H, W) -> uint8 (3, S, S)``: PIL resize of the long side to ``S``, centred square pad.

    Picklable (a plain object), so it runs in data-loader workers.
    """

    def __init__(self, size: int, background: Sequence[int], resample: int = Image.Resampling.BICUBIC) -> None:
        self.size = int(size)
        self.background = tuple(int(c) for c in background)
        self.resample = int(resample)

    def output_hw(self, height: int, width: int) -> tuple[int, int]:
        """The resized (not yet padded) height and width."""
        scale = self.size / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    def __call__(self, image: Tensor) -> Tensor:
        if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a uint8 (3, H, W) RGB tensor, got {tuple(image.shape)} {image.dtype}")
        height, width = self.output_hw(image.shape[1], image.shape[2])
        if (height, width) != tuple(image.shape[1:]):
            pil = Image.fromarray(image.permute(1, 2, 0).cpu().numpy())
            array = np.asarray(pil.resize((width, height), resample=self.resample), dtype=np.uint8)
            image = torch.from_numpy(array.copy()).permute(2, 0, 1)
        if height == width:
            return image.contiguous()
        canvas = torch.tensor(self.background, dtype=torch.uint8).view(3, 1, 1).expand(3, self.size, self.size).clone()
        top, left = (self.size - height) // 2, (self.size - width) // 2
        canvas[:, top : top + height, left : left + width] = image
        return canvas

    def __repr__(self) -> str:
        return f"Emu3ImageTransform(size={self.size}, background={self.background}, resample={self.resample})"
