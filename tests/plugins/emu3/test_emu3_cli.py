"""The plugin through the command line: aliases, config defaults, a 20-step training run, bench."""

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
from unigame_core.errors import ConfigError

PLUGINS_DIR = Path(__file__).resolve().parents[3] / "plugins"
TRAIN = ["gate.name=none", "train.device=cpu", "train.checkpoint_every=0", "train.sample_every=0",
         "train.batch_size=2", "optim.lr_lora=1e-3", "train.log_every=5"]


@pytest.fixture
def cli():
    plugins.reset()  # discover the emu3 plugin afresh (an earlier test may have cached a registry)
    yield CliRunner()
    plugins.reset()


def _app():
    from unigame_core.cli.main import app

    return app


def test_plugin_module_does_not_import_torch():
    code = "import sys, unigame_emu3.plugin; print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS_DIR), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "False"


def test_models_list_shows_the_emu3_aliases(cli):
    result = cli.invoke(_app(), ["models", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("emu3-chat", "emu3-gen", "BAAI/Emu3-Chat-hf", "BAAI/Emu3-Gen-hf"):
        assert name in result.output


def test_alias_and_folder_resolve_to_the_emu3_backend(cli, tiny_dir):
    chat = build_config("emu3-chat")
    assert chat.backend.name == "emu3" and chat.backend.checkpoint == "BAAI/Emu3-Chat-hf"
    assert chat.game.hardness_reference == "round_trip" and chat.backend.soft_topk == 16
    gen = build_config("emu3-gen")
    assert gen.backend.checkpoint == "BAAI/Emu3-Gen-hf" and gen.backend.text_to_image is True
    folder = build_config(str(tiny_dir))
    assert folder.backend.name == "emu3" and folder.backend.checkpoint == str(tiny_dir)
    with pytest.raises(ConfigError, match="backend.soft_topkk"):
        build_config("emu3-chat", overrides=["backend.soft_topkk=3"])


def _write_data(root: Path, n: int = 6) -> Path:
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    lines = []
    for i in range(n):
        name = list(colours)[i % 3]
        img = Image.new("RGB", (30 + 4 * i, 24), (0, 0, 0))  # non-square: the transform pads
        img.paste(colours[name], (4, 4, 20, 20))
        img.save(root / f"img{i}.png")
        lines.append(json.dumps({"image": f"img{i}.png", "question": "what color is the square?", "answer": name}))
    path = root / "train.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_train_runs_twenty_steps_on_the_tiny_checkpoint(cli, tiny_dir, tmp_path):
    data = _write_data(tmp_path)
    out = tmp_path / "run"
    args = ["train", "--model", str(tiny_dir), "--data", f"jsonl:{data}", "--output", str(out),
            "train.steps=20", "game.hardness_reference=round_trip", *TRAIN]
    result = cli.invoke(_app(), args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert (out / "adapter" / "adapter_config.json").exists()
    assert (out / "perturber.safetensors").exists()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == 20
    assert all(math.isfinite(r["ce_clean"]) for r in rows)
    saved = (out / "config.yaml").read_text()
    assert "name: emu3" in saved and "hardness_reference: round_trip" in saved


def test_bench_prints_its_costs(cli, tiny_dir):
    args = ["bench", "--model", str(tiny_dir), "--batch-size", "2", "--steps", "1", "train.device=cpu",
            "gate.name=none"]
    result = cli.invoke(_app(), args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "SFT step" in result.output and "UniGame / SFT step cost ratio" in result.output
