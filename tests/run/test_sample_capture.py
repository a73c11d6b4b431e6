"""Sample grids: each row is clean | delta = 0 round trip | adversarial decode, with the question, the answer and
the model's answers to the three images; capturing them changes nothing in training (same RNG draws, no
gradients), and a run whose adversary never moved says so on its page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unigame_core.config import build_config
from unigame_core.run import runner
from unigame_core.testing import quick_overrides

# LoRA dropout draws from torch's RNG in train mode: a capture that ran the model in train mode would shift it
ARGS = ("train.steps=4", "lora.dropout=0.2", "game.adversary_fraction=0.5")


def train(out: Path, *extra: str) -> list[dict]:
    runner.run_training(build_config("fake-tiny", None, quick_overrides(out, *ARGS, *extra)))
    return [{k: v for k, v in json.loads(line).items() if k != "samples_per_s"}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_samples_show_the_round_trip_and_the_answers_and_change_no_number(fake_plugin: None, tmp_path: Path) -> None:
    with_samples = train(tmp_path / "samples", "train.sample_every=1")
    without = train(tmp_path / "plain", "train.sample_every=0")
    assert with_samples == without  # capture at every step: the same losses, to the last bit

    steps = sorted(int(p.stem.removeprefix("step-")) for p in (tmp_path / "samples" / "samples").glob("*.json"))
    assert steps == [1, 2, 3, 4]
    doc = json.loads((tmp_path / "samples" / "samples" / "step-2.json").read_text())
    assert doc["step"] == 2 and doc["adversary_step"] == 1  # the adversary plays every second step
    assert doc["columns"] == ["clean", "round trip (delta = 0)", "adversarial decode"]
    assert len(doc["rows"]) == 4  # its share of the batch of 8
    for row in doc["rows"]:
        assert row["question"] == "what color is the square?" and row["answer"] in {"red", "green", "blue",
                                                                                  "yellow", "white"}
        assert set(row["answers"]) == {"clean", "round_trip", "adversarial"}
        assert all(isinstance(a, str) for a in row["answers"].values())
    grid = Image.open(tmp_path / "samples" / "samples" / "step-2.png")
    assert grid.size == (3 * 16, 4 * 16)  # three 16 px panels per row


@pytest.mark.slow
def test_an_idle_adversary_is_called_idle_and_its_decode_is_the_round_trip(fake_plugin: None, tmp_path: Path) -> None:
    out = tmp_path / "idle"
    train(out, "train.sample_every=2", "game.eps_max=0.0", "game.refine_steps=0")
    grid = np.asarray(Image.open(out / "samples" / "step-2.png").convert("RGB")).astype(int)
    round_trip, adversarial = grid[:, 16:32], grid[:, 32:48]
    assert np.abs(round_trip - adversarial).max() <= 1  # delta = 0: the same decode
    page = (out / "report.html").read_text()
    summary = re.search(r'<h2 id="health">Game health</h2><p[^>]*>([^<]*)', page)
    assert summary is not None and summary.group(1).startswith("The adversary was idle all run"), page[:3000]
