"""Decode images of any PIL mode into uint8 RGB tensors; corrupt files name themselves.

Images over PIL's pixel limit (``PIL.Image.MAX_IMAGE_PIXELS``, about 89 M pixels) count as unreadable:
PIL only *warns* between one and two times the limit and raises ``DecompressionBombError`` above it;
here both are one ``DataError`` naming the file, checked from the header before any pixel is decoded,
so ``data.image_errors=skip`` counts such a file like any other unreadable image. PIL's own warning is
therefore silenced (a ``warnings.catch_warnings`` around each decode would race in the eval's decode
threads).
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from ..errors import DataError
from ..paths import check_regular

if TYPE_CHECKING:
    from torch import Tensor

ImageFile.LOAD_TRUNCATED_IMAGES = False
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


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
    if not isinstance(source, bytes):
        check_regular(source, "Image")  # before open(): a FIFO would block it until something writes
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")
    except OSError as exc:
        raise DataError(f"Cannot open image '{label}': {exc.strerror or exc}.") from exc
    try:
        with handle, Image.open(handle) as img:
            _check_pixels(img.size, label)
            img.load()
            rgb = to_rgb(img)
    except Image.DecompressionBombError as exc:  # over twice the limit: PIL refuses while reading the header
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(label, f"{int(found.group(1)):,} pixels" if found else "") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(
            f"Cannot decode image '{label}': the file is corrupt, truncated or not an image ({exc})."
        ) from exc
    array = np.asarray(rgb, dtype=np.uint8).copy()
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def _check_pixels(size: tuple[int, int], label: str) -> None:
    """Refuse, from the header alone, what PIL would only warn about (one to two times its limit)."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and size[0] * size[1] > limit:
        raise _too_large(label, f"{size[0]}x{size[1]} = {size[0] * size[1]:,} pixels")


def _too_large(label: str, size: str) -> DataError:
    limit = f"{Image.MAX_IMAGE_PIXELS:,}" if Image.MAX_IMAGE_PIXELS else "its"
    return DataError(
        f"Image '{label}' is too large to decode safely ({size + ', ' if size else ''}over PIL's limit of "
        f"{limit} pixels).",
        "Downscale it, or raise PIL.Image.MAX_IMAGE_PIXELS in a trusted setting.",
    )
