"""Image preprocessing shared by backends: the data-loader half (``uint8 (3, H, W) -> uint8 (3, S, S)``: resize
the long side to ``S``, pad to a centred square) and the device half (``[0, 1]`` pixels <-> a model's
``(x - mean) / std`` space). A backend whose processor resizes differently keeps its own resize and shares the
check and the pad (Janus: torchvision's uint8 kernel with a minimum side)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor


def check_rgb_uint8(image: Tensor) -> None:
    """The data loader's contract: a ``uint8 (3, H, W)`` RGB tensor."""
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected a uint8 (3, H, W) RGB tensor, got {tuple(image.shape)} {image.dtype}")


def pad_to_square(image: Tensor, side: int, background: Sequence[int]) -> Tensor:
    """``uint8 (3, h, w)`` with ``h, w <= side`` centred on a ``side x side`` canvas of ``background``."""
    height, width = image.shape[1:]
    if height == width == side:
        return image.contiguous()
    canvas = torch.tensor(tuple(background), dtype=torch.uint8, device=image.device).view(3, 1, 1)
    canvas = canvas.expand(3, side, side).clone()
    top, left = (side - height) // 2, (side - width) // 2
    canvas[:, top : top + height, left : left + width] = image
    return canvas


class SquareImageTransform:
    """``uint8 (3, H, W) -> uint8 (3, S, S)``: PIL resize of the long side to ``S`` (``resample`` filter, as
    the processors that resize with PIL do), centred pad with ``background``. Picklable (a plain object), so
    it runs in data-loader workers."""

    def __init__(self, size: int, background: Sequence[int], resample: int = Image.Resampling.BICUBIC) -> None:
        self.size = int(size)
        self.background = tuple(int(c) for c in background)
        self.resample = int(resample)

    def output_hw(self, height: int, width: int) -> tuple[int, int]:
        """The resized (not yet padded) height and width."""
        scale = self.size / max(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    def __call__(self, image: Tensor) -> Tensor:
        check_rgb_uint8(image)
        height, width = self.output_hw(image.shape[1], image.shape[2])
        if (height, width) != tuple(image.shape[1:]):
            pil = Image.fromarray(image.permute(1, 2, 0).cpu().numpy())
            array = np.asarray(pil.resize((width, height), resample=self.resample), dtype=np.uint8)
            image = torch.from_numpy(array.copy()).permute(2, 0, 1)
        return pad_to_square(image, self.size, self.background)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, background={self.background}, resample={self.resample})"


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
