"""``unigame train`` end to end on the fake backend: the run directory of ARCHITECTURE.md."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from typer.testing import CliRunner

from unigame_core.cli.main import app
from unigame_core.testing import quick_overrides

runner = CliRunner()


def test_train_writes_the_run_directory(fake_plugin: None, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = quick_overrides(run, "train.steps=4", "train.sample_every=2", "train.checkpoint_every=2", "buffer.tau=-1e9")
    result = runner.invoke(app, ["train", "--model", "fake-tiny", *args])
    assert result.exit_code == 0, result.output
    for name in ("config.yaml", "metrics.jsonl", "adapter/adapter_config.json", "adapter/adapter_model.safetensors",
                 "perturber.safetensors", "samples/step-2.png", "checkpoints/step-4/state.json",
                 "checkpoints/step-4/state.safetensors"):
        assert (run / name).exists(), name
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all(r["buffer"] >= 1 for r in rows)

    # the adapter loads with plain peft into a fresh base model
    from peft import PeftModel

    from unigame_core.testing import FakeBackend, FakeSettings

    fresh = FakeBackend(FakeSettings(), "cpu")
    model = PeftModel.from_pretrained(fresh.model, str(run / "adapter"))
    assert any("lora_B" in n and p.abs().sum() > 0 for n, p in model.named_parameters())

    # and the saved config reproduces the run's settings
    from unigame_core.config import build_config

    saved = build_config(None, str(run / "config.yaml"), [])
    assert saved.train.steps == 4 and saved.model == "fake-tiny" and saved.backend.name == "fake"


def test_resume_flag_continues_a_run(fake_plugin: None, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = quick_overrides(run, "train.steps=2", "train.checkpoint_every=1")
    assert runner.invoke(app, ["train", "--model", "fake-tiny", *args]).exit_code == 0
    result = runner.invoke(app, ["train", "--resume", str(run), "train.steps=3"])
    assert result.exit_code == 0, result.output
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_resuming_a_finished_run_without_checkpoints_is_refused(fake_plugin: None, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    assert runner.invoke(app, ["train", "--model", "fake-tiny", *quick_overrides(run, "train.steps=2")]).exit_code == 0
    shutil.rmtree(run / "checkpoints")  # e.g. removed to save space
    kept = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    result = runner.invoke(app, ["train", "--resume", str(run), "train.steps=3"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "holds a finished run's adapter but no checkpoint" in text, result.output
    assert "--overwrite" in text and {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == kept
    again = runner.invoke(app, ["train", "--resume", str(run), "--overwrite", "train.steps=3"])
    assert again.exit_code == 0, again.output
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_resume_of_a_missing_run_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--resume", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "config.yaml" in result.output


def test_sample_grid_is_clean_round_trip_adversarial_left_to_right(tmp_path: Path) -> None:
    from PIL import Image

    from unigame_core.report.samples import save_grid

    clean, round_trip, adv = torch.zeros(2, 3, 4, 4), torch.full((2, 3, 4, 4), 0.5), torch.ones(2, 3, 4, 4)
    path = save_grid([clean, round_trip, adv], tmp_path / "g.png")
    img = torch.from_numpy(np.asarray(Image.open(path)).copy())
    assert img.shape[:2] == (8, 12)
    assert img[:, :4].max() == 0 and (img[:, 4:8] == 128).all() and img[:, 8:].min() == 255


def test_output_onto_an_earlier_run_is_refused_unless_overwrite(fake_plugin: None, tmp_path: Path) -> None:
    run = tmp_path / "run"
    first = quick_overrides(run, "train.steps=3", "train.checkpoint_every=1", "train.keep_checkpoints=5")
    assert runner.invoke(app, ["train", "--model", "fake-tiny", *first]).exit_code == 0
    metrics = (run / "metrics.jsonl").read_text()
    second = quick_overrides(run, "train.steps=1", "train.keep_checkpoints=1")
    result = runner.invoke(app, ["train", "--model", "fake-tiny", *second])
    assert result.exit_code == 2 and "already holds a run" in result.output and "--overwrite" in result.output
    assert "Traceback" not in result.output and (run / "metrics.jsonl").read_text() == metrics  # nothing touched
    for name in ("wandb-run-id", "mlflow-run-id", "notes.txt"):  # the old run's logger ids, a user's file
        (run / name).write_text("x")
    result = runner.invoke(app, ["train", "--model", "fake-tiny", "--overwrite", *second])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1]
    assert not (run / "wandb-run-id").exists() and not (run / "mlflow-run-id").exists()
    assert (run / "notes.txt").exists()  # --overwrite removes only what a run writes
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-1"]  # the old step-3 did not win


def test_a_bad_output_is_one_sentence_and_exit_2(fake_plugin: None, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    for output, says in ((a_file, "is an existing file"), (a_file / "run", "is a file")):
        result = runner.invoke(app, ["train", "--model", "fake-tiny", *quick_overrides(output, "train.steps=1")])
        assert result.exit_code == 2 and says in " ".join(result.output.split()), result.output
        assert "Traceback" not in result.output and result.output.count("error:") == 1, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
