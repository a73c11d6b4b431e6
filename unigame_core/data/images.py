"""Decode images of any PIL mode into uint8 RGB tensors; corrupt files name themselves."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from ..errors import DataError

if TYPE_CHECKING:
    from torch import Tensor

ImageFile.LOAD_TRUNCATED_IMAGES = False


def to_rgb(img: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any mode (L, LA, RGBA, P, CMYK, I;16, F...) -> RGB; transparency is composited on ``background``."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        arr = np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, background)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def decode_image(source: str | Path | bytes, name: str | None = None) -> Tensor:
    """A file path or encoded bytes -> ``uint8`` tensor ``(3, H, W)``; raises DataError naming the file."""
    import torch

    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    except OSError as exc:
        raise DataError(f"Cannot open image '{label}': {exc.strerror or exc}.") from exc
    try:
        with handle, Image.open(handle) as img:
            img.load()
            rgb = to_rgb(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(
            f"Cannot decode image '{label}': the file is corrupt, truncated or not an image ({exc})."
        ) from exc
    array = np.asarray(rgb, dtype=np.uint8).copy()
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()
