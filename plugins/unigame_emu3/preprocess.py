"""Emu3's image preprocessing in two halves: the data-loader half (resize + pad, uint8) and the device
half (normalise, and back).

``Emu3ImageProcessor`` resizes with PIL (its own ``resample`` filter) to a size whose sides are multiples
of 8 and whose area lies in ``[min_pixels, max_pixels]``, keeping the aspect ratio, then rescales and
normalises. The roles take square ``S x S`` pixels, so :class:`Emu3ImageTransform` resizes the long side
to ``S`` with the same PIL filter and pads to a centred square with the colour that normalises to the
mean (``int(mean * 255)``). For square inputs its output is exactly what the processor feeds the MoVQ.
"""

from __future__ import annotations

from unigame_core.pixels import PixelNormalizer, SquareImageTransform

__all__ = ["Emu3ImageTransform", "PixelNormalizer"]


class Emu3ImageTransform(SquareImageTransform):
    """``uint8 (3, H, W) -> uint8 (3, S, S)``: PIL resize of the long side to ``S`` with the processor's own
    filter, centred square pad (the core's :class:`~unigame_core.pixels.SquareImageTransform`)."""
