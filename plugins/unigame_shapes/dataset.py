"""Torch datasets over the procedural shapes world (generated on the fly, no files)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from unigame_shapes.world import Sample, ShapesWorld, caption_questions


def _to_chw(image: Any) -> torch.Tensor:
    """``(H, W, 3)`` uint8 numpy array -> ``(3, H, W)`` uint8 tensor."""
    return torch.from_numpy(image).permute(2, 0, 1).contiguous()


class _ShapesSplit(Dataset):
    """``length`` samples of ``split``: item ``i`` is ``ShapesWorld(seed).sample(split, i)`` as ``item`` puts it."""

    def __init__(self, split: str, length: int, seed: int = 0, image_size: int = 64) -> None:
        self.world = ShapesWorld(seed=seed, image_size=image_size)
        self.world.caption_sample(split, 0)  # validates the split early
        self.split = split
        self.length = int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for length {self.length}")
        return self.item(self.world.sample(self.split, index))

    def item(self, s: Sample) -> dict[str, Any]:
        raise NotImplementedError


class ShapesVQADataset(_ShapesSplit):
    """VQA samples: the image, one question and its answer."""

    def item(self, s: Sample) -> dict[str, Any]:
        return {"id": s.id, "image": _to_chw(s.image), "question": s.question,
                "answer": s.answer, "answers": [s.answer], "kind": s.kind}


class ShapesCaptionDataset(_ShapesSplit):
    """Caption/image pairs with caption-determined ``(question, answer)`` checks."""

    def item(self, s: Sample) -> dict[str, Any]:
        return {"id": s.id, "caption": s.caption, "image": _to_chw(s.image), "questions": caption_questions(s.scene)}


def shapes_source(location: str, *, image_errors: str = "skip", seed: int = 0) -> ShapesVQADataset:
    """``--data shapes:SPLIT[@N]``: N samples (default 100000) of a split, rendered on the fly."""
    from .assets import IMAGE_SIZE

    split, _, size = (location or "train").partition("@")
    return ShapesVQADataset(split, length=int(size or 100_000), seed=0, image_size=IMAGE_SIZE)
