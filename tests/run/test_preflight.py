"""Before any model loads, ``unigame train`` checks the data, the gate and the model's weights and reports
every problem in one message (was: one per run, data, then gate, then checkpoint: three runs to learn three
things)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from unigame_core.cli.main import app


@pytest.mark.slow  # imports open_clip for the gate's check (about 3 s)
def test_missing_data_gate_weights_and_checkpoint_are_reported_together(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from unigame_core.run import build

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded: list[str] = []
    monkeypatch.setattr(build, "build_backend", lambda cfg, where: loaded.append(cfg.backend.name))
    result = CliRunner().invoke(app, [
        "train", "--model", "janus-pro-1b", "--data", f"jsonl:{tmp_path / 'missing.jsonl'}",
        "--output", str(tmp_path / "run"), f"backend.checkpoint={tmp_path / 'no-such-checkpoint'}",
        "gate.name=clip", f"gate.cache_dir={tmp_path / 'cache'}"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "3 problems" in text, text
    assert "missing.jsonl" in text  # the data
    assert "The CLIP gate's weights" in text and "HF_HUB_OFFLINE=1" in text  # the gate, offline and not cached
    assert "Janus checkpoint folder" in text and "no-such-checkpoint' does not exist" in text  # the checkpoint
    assert text.count("error:") == 1 and "Traceback" not in result.output
    assert loaded == []  # no model was loaded for a run that cannot start
    assert not (tmp_path / "run").exists()


def test_a_single_problem_keeps_its_own_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from unigame_core.run import build

    loaded: list[str] = []
    monkeypatch.setattr(build, "build_backend", lambda cfg, where: loaded.append(cfg.backend.name))
    result = CliRunner().invoke(app, ["train", "--model", "janus-pro-1b", "--data", "shapes:train",
                                      "--output", str(tmp_path / "run"), f"backend.checkpoint={tmp_path / 'nope'}",
                                      "gate.name=none"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "problems" not in text and f"Janus checkpoint folder '{tmp_path / 'nope'}' does not exist." in text
    assert loaded == []


def test_missing_data_and_checkpoint_are_reported_together_fast(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from unigame_core.run import build

    loaded: list[str] = []
    monkeypatch.setattr(build, "build_backend", lambda cfg, where: loaded.append(cfg.backend.name))
    result = CliRunner().invoke(app, ["train", "--model", "janus-pro-1b", "--data", f"jsonl:{tmp_path / 'x.jsonl'}",
                                      "--output", str(tmp_path / "run"), f"backend.checkpoint={tmp_path / 'nope'}",
                                      "gate.name=none"])
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "(2 problems): 1. Training file" in text and "2. Janus checkpoint folder" in text, text
    assert loaded == []


@pytest.mark.usefixtures("fake_plugin")
@pytest.mark.parametrize("checkpoint, expected", [
    ("", "loading backend 'fake' on cpu in float32"),
    ("org/Model-1B", "loading backend 'fake' (org/Model-1B) on cpu in float32"),
])
def test_the_loading_line_names_a_checkpoint_only_when_there_is_one(caplog: pytest.LogCaptureFixture,
                                                                     checkpoint: str, expected: str) -> None:
    import logging

    from unigame_core.config import build_config
    from unigame_core.run.build import build_backend, placement

    cfg = build_config("fake-tiny", None, [f"backend.checkpoint={checkpoint}"] if checkpoint else [])
    with caplog.at_level(logging.INFO, logger="unigame_core.run.build"):
        build_backend(cfg, placement("cpu", "fp32"))
    assert expected in caplog.messages, caplog.messages
