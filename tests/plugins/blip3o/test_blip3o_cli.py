"""The plugin through the command line: aliases, a 20-step training run, the consistency suite, bench."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from unigame_core import plugins
from unigame_core.config import build_config

PLUGINS_DIR = Path(__file__).resolve().parents[3] / "plugins"
FAST = ["backend.decoder_steps=2", "backend.dit_steps=2"]
TRAIN = ["gate.name=none", "train.device=cpu", "train.checkpoint_every=0", "train.sample_every=0",
         "train.batch_size=2", "optim.lr_lora=1e-3", "train.log_every=5", *FAST]


@pytest.fixture
def cli():
    plugins.reset()
    yield CliRunner()
    plugins.reset()


def _app():
    from unigame_core.cli.main import app

    return app


def test_plugin_module_does_not_import_torch():
    code = "import sys, unigame_blip3o.plugin; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS_DIR), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "False"


def test_models_list_shows_the_blip3o_aliases(cli):
    result = cli.invoke(_app(), ["models", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("blip3o-8b", "blip3o-4b", "BLIP3o/BLIP3o-Model-8B", "BLIP3o/BLIP3o-Model-4B"):
        assert name in result.output
    cfg = build_config("blip3o-4b")
    assert cfg.backend.name == "blip3o" and cfg.game.hardness_reference == "round_trip"


def _write_data(root: Path, n: int = 4) -> Path:
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    lines = []
    for i in range(n):
        name = list(colours)[i % 3]
        img = Image.new("RGB", (20 + 4 * i, 16), (0, 0, 0))
        img.paste(colours[name], (2, 2, 12, 12))
        img.save(root / f"img{i}.png")
        lines.append(json.dumps({"image": f"img{i}.png", "question": "what color is the square?", "answer": name}))
    path = root / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_train_runs_twenty_steps_on_the_tiny_checkpoint(cli, tiny_dir, tmp_path):
    data = _write_data(tmp_path)
    out = tmp_path / "run"
    args = ["train", "--model", str(tiny_dir), "--data", f"jsonl:{data}", "--output", str(out), "train.steps=20",
            *TRAIN]
    result = cli.invoke(_app(), args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert (out / "adapter" / "adapter_config.json").exists() and (out / "perturber.safetensors").exists()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 20 and all(math.isfinite(r["ce_clean"]) for r in rows)
    saved = (out / "config.yaml").read_text()
    assert "name: blip3o" in saved and "hardness_reference: round_trip" in saved


def test_eval_consistency_suite_on_the_tiny_checkpoint(cli, tiny_dir, tmp_path):
    out = tmp_path / "eval"
    args = ["eval", "--suite", "consistency", "--model", str(tiny_dir), "--limit", "3", "--batch-size", "2",
            "--output", str(out)]
    result = cli.invoke(_app(), args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    doc = json.loads((out / "results.json").read_text())
    assert doc["backend"]["name"] == "blip3o" and doc["suites"]["consistency"]["n"] >= 3
    values = {(r["suite"], r["metric"]): r["value"] for r in doc["results"]}
    assert 0.0 <= values[("consistency", "agreement")] <= 1.0


def test_bench_with_random_weights_prints_its_costs(cli, tiny_dir):
    args = ["bench", "--model", str(tiny_dir), "--random-weights", "--batch-size", "2", "--steps", "1",
            "train.device=cpu", "gate.name=none", *FAST]
    result = cli.invoke(_app(), args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "SFT step" in result.output and "UniGame / SFT step cost ratio" in result.output
