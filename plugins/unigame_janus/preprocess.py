"""Janus' image preprocessing in torch: the data-loader half (resize + pad, uint8) and the device half
(normalise). Together they reproduce ``JanusImageProcessor`` exactly.

The HF processor resizes the uint8 image so that its long side is ``S`` (bicubic, antialiased, short
side ``max(round(short * S / long), min_size)``), pads it to a centred square with the background
colour ``int(mean * 255)`` and only then rescales and normalises. :class:`JanusImageTransform` does
the first two steps with the same torchvision call on uint8 tensors, so its output is bit-identical;
:class:`PixelNormalizer` does the last step on ``[0, 1]`` pixels on the device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from unigame_core.pixels import PixelNormalizer, check_rgb_uint8, pad_to_square  # noqa: F401  (PixelNormalizer re-exported)


class JanusImageTransform:
    """``uint8 (3, H, W) -> uint8 (3, S, S)``: resize the long side to ``S``, pad to a centred square.

    Picklable (a plain object), so it runs in data-loader workers.
    """

    def __init__(self, size: int, background: Sequence[int], min_size: int = 14) -> None:
        self.size = int(size)
        self.background = tuple(int(c) for c in background)
        self.min_size = int(min_size)

    def output_hw(self, height: int, width: int) -> tuple[int, int]:
        """The resized (not yet padded) height and width, rounded exactly as the HF processor does."""
        scale = self.size / max(height, width)
        clip = min(self.min_size, self.size)
        return max(round(height * scale), clip), max(round(width * scale), clip)

    def __call__(self, image: Tensor) -> Tensor:
        check_rgb_uint8(image)
        height, width = self.output_hw(image.shape[1], image.shape[2])
        return pad_to_square(_resize_bicubic(image, height, width), max(height, width), self.background)

    def __repr__(self) -> str:
        return f"JanusImageTransform(size={self.size}, background={self.background}, min_size={self.min_size})"


def _resize_bicubic(image: Tensor, height: int, width: int) -> Tensor:
    """Antialiased bicubic resize of a uint8 image (torchvision's uint8 kernel, as the HF processor uses)."""
    if (height, width) == tuple(image.shape[-2:]):
        return image
    try:
        from torchvision.transforms.v2 import functional as tvF
    except ImportError:  # pragma: no cover - torchvision ships with the HF Janus image processor
        out = torch.nn.functional.interpolate(image[None].float(), size=(height, width), mode="bicubic",
                                              antialias=True, align_corners=False)
        return out[0].round().clamp(0, 255).to(torch.uint8)
    return tvF.resize(image, [height, width], interpolation=tvF.InterpolationMode.BICUBIC, antialias=True)


def to_unit(images: Tensor) -> Tensor:
    """uint8 images -> float ``[0, 1]`` pixels (the roles' input convention)."""
    return images.float() / 255.0
