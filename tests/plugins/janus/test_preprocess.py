"""The torch image transform + normaliser reproduce the HF Janus image processor; bad files name themselves."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import JanusImageProcessor

from unigame_core.data.images import decode_image, to_rgb
from unigame_core.errors import DataError
from unigame_janus.backend import JanusBackend
from unigame_janus.preprocess import JanusImageTransform, PixelNormalizer, to_unit

# (mode, width, height): every PIL mode the data may hold, wide, tall, tiny, square and extreme shapes.
CASES = [("RGB", 50, 23), ("L", 17, 61), ("LA", 40, 40), ("RGBA", 7, 5), ("P", 64, 33), ("CMYK", 31, 90),
         ("I;16", 45, 12), ("RGB", 400, 9), ("RGB", 384, 384)]


def _image(mode: str, width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, (height, width), dtype=np.uint16))
        assert image.mode == "I;16"
        return image
    rgba = Image.fromarray(rng.integers(0, 256, (height, width, 4), dtype=np.uint8), mode="RGBA")
    return rgba.convert("P") if mode == "P" else rgba.convert(mode)


def _ours(transform: JanusImageTransform, normalizer: PixelNormalizer, rgb: Image.Image) -> torch.Tensor:
    uint8 = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)
    out = transform(uint8)
    assert out.dtype == torch.uint8 and out.shape == (3, transform.size, transform.size)
    return normalizer(to_unit(out)[None])[0]


def test_matches_checkpoint_processor(backend: JanusBackend) -> None:
    transform, processor = backend.image_transform(), backend.processor.image_processor
    for i, (mode, w, h) in enumerate(CASES):
        rgb = to_rgb(_image(mode, w, h, i))
        expected = processor(images=rgb, return_tensors="pt")["pixel_values"][0]
        got = _ours(transform, backend.normalize.cpu(), rgb)
        assert (got - expected).abs().max().item() < 1e-3, (mode, w, h)


def test_matches_real_janus_pro_processor_at_384() -> None:
    """Janus-Pro's preprocessor settings: 384 px, mean = std = 0.5 (background 127), min_size 14."""
    processor = JanusImageProcessor(size={"height": 384, "width": 384}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    transform = JanusImageTransform(384, processor.background_color, processor.min_size)
    assert processor.background_color == (127, 127, 127)
    normalizer = PixelNormalizer(processor.image_mean, processor.image_std)
    for i, (mode, w, h) in enumerate(CASES[:6] + CASES[-2:]):
        rgb = to_rgb(_image(mode, w * 3, h * 2, 100 + i))
        expected = processor(images=rgb, return_tensors="pt")["pixel_values"][0]
        assert (_ours(transform, normalizer, rgb) - expected).abs().max().item() < 1e-3, (mode, w, h)


def test_pads_with_background_centred() -> None:
    transform = JanusImageTransform(32, (127, 127, 127))
    out = transform(torch.full((3, 20, 40), 255, dtype=torch.uint8))  # 40x20 -> 32x16, 8 rows above and below
    assert (out[:, 8:24] == 255).all() and (out[:, :8] == 127).all() and (out[:, 24:] == 127).all()
    assert transform.output_hw(100, 5) == (32, 14)  # the short side never drops below min_size


def test_transform_is_picklable(backend: JanusBackend) -> None:
    transform = backend.image_transform()
    clone = pickle.loads(pickle.dumps(transform))
    image = torch.randint(0, 256, (3, 21, 13), dtype=torch.uint8)
    assert torch.equal(clone(image), transform(image))


def test_files_of_every_mode_decode_and_transform(backend: JanusBackend, tmp_path: Path) -> None:
    transform = backend.image_transform()
    for i, (mode, w, h) in enumerate(CASES[:7]):
        path = tmp_path / f"img{i}.{'jpg' if mode == 'CMYK' else 'png'}"
        _image(mode, w, h, i).save(path)
        out = transform(decode_image(path))
        assert out.shape == (3, backend.image_size, backend.image_size) and out.dtype == torch.uint8


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_image_error_names_the_file(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "photo_0042.jpg"
    _image("RGB", 64, 48, 0).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not an image at all")
    with pytest.raises(DataError, match="photo_0042.jpg"):
        decode_image(path)
