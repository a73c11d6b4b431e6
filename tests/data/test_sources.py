from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unigame_core.data.images import decode_image
from unigame_core.data.loader import Collate, StepBatchSampler
from unigame_core.data.sources import jsonl_dataset, vqav2_dataset
from unigame_core.errors import DataError


def write_image(path: Path, mode: str = "RGB", size: tuple[int, int] = (20, 10)) -> Path:
    arr = (np.arange(size[0] * size[1] * 3) % 251).astype(np.uint8).reshape(size[1], size[0], 3)
    img = Image.fromarray(arr)
    if mode == "I;16":
        img = Image.fromarray((arr[..., 0].astype(np.uint16) * 257)).convert("I;16")
    elif mode != "RGB":
        img = img.convert(mode)
    fmt = "TIFF" if mode in ("I;16", "CMYK") else "PNG"
    img.save(path, format=fmt)
    return path


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "RGB"])
def test_any_pil_mode_decodes_to_rgb_uint8(tmp_path: Path, mode: str) -> None:
    t = decode_image(write_image(tmp_path / f"x.{mode.replace(';', '')}", mode))
    assert t.dtype == torch.uint8 and t.shape == (3, 10, 20)


def test_corrupt_and_truncated_images_name_the_file(tmp_path: Path) -> None:
    good = write_image(tmp_path / "good.png")
    (tmp_path / "trunc.png").write_bytes(good.read_bytes()[:40])
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    for name in ("trunc.png", "junk.jpg", "missing.png"):
        with pytest.raises(DataError, match=name):
            decode_image(tmp_path / name)


def test_jsonl_source_skips_or_fails_on_bad_images(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    (tmp_path / "bad.png").write_bytes(b"junk")
    rows = [
        {"image": "a.png", "question": "q1", "answer": "x"},
        {"image": "bad.png", "question": "q2", "answers": ["y", "z", "y"]},
    ]
    f = tmp_path / "train.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows))
    ds = jsonl_dataset(str(f))
    assert ds[0]["image"].shape == (3, 10, 20) and ds[1]["image"] is None and ds[1]["answer"] == "y"
    batch = Collate(lambda im: im[:, :4, :4])([ds[0], ds[1]])
    assert batch["images"].shape == (1, 3, 4, 4) and batch["skipped"] == 1 and batch["questions"] == ["q1"]
    with pytest.raises(DataError, match="bad.png"):
        jsonl_dataset(str(f), image_errors="fail")[1]
    f.write_text('{"image": "a.png"}\n')
    with pytest.raises(DataError, match="Line 1"):
        jsonl_dataset(str(f))


def test_vqav2_training_layout(tmp_path: Path) -> None:
    (tmp_path / "train2014").mkdir()
    write_image(tmp_path / "train2014" / "COCO_train2014_000000000042.jpg")
    (tmp_path / "v2_OpenEnded_mscoco_train2014_questions.json").write_text(
        json.dumps({"questions": [{"image_id": 42, "question": "what?", "question_id": 7}]}))
    (tmp_path / "v2_mscoco_train2014_annotations.json").write_text(
        json.dumps(
            {"annotations": [{"question_id": 7, "image_id": 42, "multiple_choice_answer": "cat", "answers": []}]}
        )
    )
    ds = vqav2_dataset(str(tmp_path))
    assert len(ds) == 1 and ds[0]["answer"] == "cat" and ds[0]["image"].shape[0] == 3
    with pytest.raises(DataError, match="v2_OpenEnded_mscoco_val2014_questions.json"):
        vqav2_dataset(str(tmp_path), split="val2014")


def test_sampler_is_resumable_and_shards_the_global_batch() -> None:
    full = StepBatchSampler(10, global_batch=4, seed=3, steps=6)
    steps = list(full)
    assert len(steps) == 6 and all(len(b) == 4 for b in steps)
    assert sorted(steps[0] + steps[1] + full.indices(2)[:2]) == list(range(10))  # one epoch, no repeats
    resumed = list(StepBatchSampler(10, global_batch=4, seed=3, steps=6, start_step=4))
    assert resumed == steps[4:]
    r0 = list(StepBatchSampler(10, global_batch=4, seed=3, steps=6, rank=0, world=2))
    r1 = list(StepBatchSampler(10, global_batch=4, seed=3, steps=6, rank=1, world=2))
    assert all(a + b == s for a, b, s in zip(r0, r1, steps))
