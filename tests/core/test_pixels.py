"""The shared data-loader half of image preprocessing (unigame_core/pixels.py): one pad, one PIL resize."""

from __future__ import annotations

import pickle

import pytest
import torch

from unigame_core.pixels import SquareImageTransform, check_rgb_uint8, pad_to_square


def test_pad_to_square_centres_the_image_on_the_background() -> None:
    image = torch.full((3, 2, 4), 9, dtype=torch.uint8)
    out = pad_to_square(image, 4, (1, 2, 3))
    assert out.shape == (3, 4, 4) and out.dtype == torch.uint8
    assert torch.equal(out[:, 1:3, :], image)  # rows 1-2 hold the image: (4 - 2) // 2 = 1 above
    assert out[:, 0].tolist() == [[1] * 4, [2] * 4, [3] * 4] and out[:, 3].tolist() == [[1] * 4, [2] * 4, [3] * 4]
    square = torch.zeros(3, 4, 4, dtype=torch.uint8)
    assert torch.equal(pad_to_square(square, 4, (1, 2, 3)), square)  # already square: unchanged


def test_the_square_transform_resizes_the_long_side_then_pads_and_pickles() -> None:
    transform = SquareImageTransform(8, (5, 6, 7))
    wide = torch.randint(0, 256, (3, 8, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    out = transform(wide)
    assert out.shape == (3, 8, 8) and transform.output_hw(8, 16) == (4, 8)
    assert out[:, :2].unique().tolist() == [5, 6, 7] and out[:, 6:].unique().tolist() == [5, 6, 7]
    assert torch.equal(pickle.loads(pickle.dumps(transform))(wide), out)  # runs in data-loader workers
    assert repr(transform) == "SquareImageTransform(size=8, background=(5, 6, 7), resample=3)"
    with pytest.raises(ValueError, match=r"expected a uint8 \(3, H, W\) RGB tensor, got \(1, 8, 8\) torch.uint8"):
        check_rgb_uint8(torch.zeros(1, 8, 8, dtype=torch.uint8))
