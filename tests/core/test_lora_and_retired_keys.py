"""lora.include_mlp reaches the backend's target modules; a retired config key loads with a warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from unigame_core.config import build_config
from unigame_core.run import build
from unigame_core.testing import FakeBackend, FakeSettings, quick_overrides


@pytest.mark.parametrize("include_mlp", [False, True])
def test_include_mlp_adds_lora_to_the_mlp_projections(fake_plugin: None, tmp_path: Path, include_mlp: bool) -> None:
    cfg = build_config("fake-tiny", None, quick_overrides(tmp_path, f"lora.include_mlp={str(include_mlp).lower()}"))
    backend = FakeBackend(FakeSettings(), "cpu")
    peft_model, params = build.build_lora(cfg, backend)
    adapted = {name.rsplit(".", 1)[-1] for name, module in peft_model.named_modules() if hasattr(module, "lora_A")}
    assert adapted == ({"q_proj", "k_proj", "v_proj", "o_proj"} | ({"up_proj", "down_proj"} if include_mlp else set()))
    layers = FakeSettings().layers
    assert len(params) == 2 * layers * (6 if include_mlp else 4)  # lora_A and lora_B per adapted projection


def test_retired_max_samples_in_an_old_config_file_loads_with_a_warning(
    fake_plugin: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = tmp_path / "config.yaml"
    old.write_text("data:\n  max_samples: 0\n  num_workers: 0\ntrain:\n  steps: 3\n")
    with caplog.at_level(logging.WARNING):
        cfg = build_config("fake-tiny", str(old), quick_overrides(tmp_path))
    assert cfg.train.steps == 3 and "max_samples" not in cfg.data
    assert "ignoring data.max_samples" in caplog.text and str(old) in caplog.text
