"""`unigame train` and `unigame bench` on a tiny Janus checkpoint folder, through the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from unigame_core.cli.main import app

runner = CliRunner()


def write_jsonl(root: Path, n: int = 8) -> Path:
    rows = []
    for i in range(n):
        colour = ("red", "green", "blue", "yellow")[i % 4]
        rgb = {"red": (220, 20, 20), "green": (20, 200, 20), "blue": (20, 20, 220), "yellow": (230, 230, 20)}[colour]
        arr = np.zeros((20 + i, 28, 3), dtype=np.uint8)  # any aspect ratio
        arr[4:12, 6:18] = rgb
        Image.fromarray(arr).save(root / f"img{i}.png")
        rows.append({"image": f"img{i}.png", "question": "what color is the box?", "answer": colour})
    path = root / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


@pytest.mark.slow
def test_train_on_a_tiny_janus_folder_writes_the_run_directory(tiny_ckpt: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path)
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "train", "--model", str(tiny_ckpt), "--data", f"jsonl:{data}", "--output", str(run), "train.steps=20",
        "train.batch_size=4", "train.device=cpu", "gate.name=cosine", "gate.threshold=0.5", "train.sample_every=10",
        "train.checkpoint_every=10", "optim.lr_lora=1e-3", "train.log_every=5", "game.adversary_fraction=0.5",
    ])
    assert result.exit_code == 0, result.output
    for name in ("config.yaml", "metrics.jsonl", "adapter/adapter_model.safetensors", "perturber.safetensors",
                 "samples/step-10.png", "checkpoints/step-20/state.json"):
        assert (run / name).exists(), name
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10, 15, 20]
    assert all(math.isfinite(r["loss_u"]) for r in rows)
    assert [r["adversary_step"] for r in rows] == [5, 9, 15, 19]  # the adversary plays every 2nd step
    assert all(math.isfinite(r["ce_adv"]) and 0 <= r["gate_pass"] <= 1 for r in rows)
    assert "janus" in (run / "config.yaml").read_text()


@pytest.mark.slow
def test_bench_prints_the_step_costs(tiny_ckpt: Path) -> None:
    result = runner.invoke(app, ["bench", "--model", str(tiny_ckpt), "--batch-size", "4", "--steps", "2",
                                 "gate.name=cosine", "train.device=cpu"])
    assert result.exit_code == 0, result.output
    for block in ("SFT step", "decode (forward)", "understanding encoder", "adversary turn", "UniGame step"):
        assert block in result.output
    assert "UniGame / SFT step cost ratio:" in result.output
