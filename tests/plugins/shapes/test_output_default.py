"""One default run directory (``runs/unigame``) for every model, as README and docs/training.md say."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unigame_core import plugins
from unigame_core.cli.main import app
from unigame_core.config import TrainConfig, alias_defaults, build_config

ROOT = Path(__file__).resolve().parents[3]
DEFAULT = "runs/unigame"


def test_every_model_writes_to_the_one_documented_default() -> None:
    assert TrainConfig().output_dir == DEFAULT
    assert build_config(None, None, []).train.output_dir == DEFAULT  # the embedded default model
    for alias in plugins.backends().aliases():
        assert "output_dir" not in alias_defaults(alias).get("train", {}), alias.name
    training = (ROOT / "docs" / "training.md").read_text()
    assert f"unigame train --resume {DEFAULT}" in training and f"| `{DEFAULT}` |" in training
    assert DEFAULT in (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_the_documented_resume_continues_a_default_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    quick = ["train.eval_suites=[]", "train.batch_size=4", "train.sample_every=0", "train.log_every=1"]
    runner = CliRunner()
    first = runner.invoke(app, ["train", "train.steps=1", *quick])
    assert first.exit_code == 0, first.output
    assert (tmp_path / DEFAULT / "checkpoints" / "step-1").is_dir()
    again = runner.invoke(app, ["train", "--resume", DEFAULT, "train.steps=2", *quick])  # docs/training.md
    assert again.exit_code == 0, again.output
    rows = (tmp_path / DEFAULT / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == [1, 2]
