"""With random model weights the CLIP gate downloads nothing either: the same architecture, random weights."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from unigame_core.interfaces import GateInput
from unigame_core.run import build


@pytest.mark.slow
def test_random_weights_build_the_gate_offline_and_say_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    cfg = OmegaConf.create({"gate": {"name": "clip"}, "backend": {"name": "janus", "random_weights": True}})
    with caplog.at_level(logging.WARNING):
        gate = build.build_gate(cfg, torch.device("cpu"))
    assert gate.cfg.random_weights and gate.size == (224, 224)
    notes = [r.getMessage() for r in caplog.records if "CLIP gate: random weights" in r.getMessage()]
    assert len(notes) == 1 and "nothing downloaded" in notes[0]
    x = torch.rand(2, 3, 32, 32)
    result = gate.check(GateInput(x, x, None, None, ["a b", "c d"]))
    assert result.keep.all() and torch.allclose(result.score, torch.ones(2), atol=1e-5)  # same image: cosine 1
