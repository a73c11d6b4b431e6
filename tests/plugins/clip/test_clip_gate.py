from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unigame_clip.gate import ClipGate, write_model_config
from unigame_clip.settings import ClipGateConfig
from unigame_core.errors import ConfigError
from unigame_core.interfaces import GateInput


@pytest.fixture(scope="module")
def tiny_clip_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "unigame-test-clip.json"
    return write_model_config(
        path, embed_dim=16, image_size=32, patch=8, width=32, layers=1, text_width=32, text_layers=1
    )


def gate(config: Path, **kw: object) -> ClipGate:
    torch.manual_seed(0)
    cfg = ClipGateConfig(model="unigame-test-clip", pretrained="", model_config=str(config),
                         **kw)  # type: ignore[arg-type]
    return ClipGate(cfg, "cpu")


def test_low_similarity_is_discarded_high_is_kept(tiny_clip_config: Path) -> None:
    g = gate(tiny_clip_config, image_threshold=0.0)
    torch.manual_seed(1)
    clean = torch.rand(2, 3, 48, 48)
    adv = torch.stack([clean[0], 1.0 - clean[1]])  # the second sample's content is inverted
    scores = g.check(GateInput(clean, adv, None, None, ["a", "b"])).score
    assert scores[0] == pytest.approx(1.0, abs=1e-5) and scores[1] < scores[0]
    g.cfg.image_threshold = float((scores[0] + scores[1]) / 2)
    result = g.check(GateInput(clean, adv, None, None, ["a", "b"]))
    assert result.keep.tolist() == [True, False]  # BELOW the threshold -> dropped


def test_text_mode_uses_question_and_answer(tiny_clip_config: Path) -> None:
    g = gate(tiny_clip_config, mode="text", text_threshold=1.01)
    pix = torch.rand(3, 3, 32, 32)
    result = g.check(GateInput(pix, pix, None, None, ["what color? red", "how many? two", "is there a cat? no"]))
    assert not result.keep.any() and (result.score <= 1.0).all()
    g.cfg.text_threshold = -1.01
    assert g.check(GateInput(pix, pix, None, None, ["a", "b", "c"])).keep.all()


def test_bad_mode_and_missing_config_are_config_errors(tmp_path: Path) -> None:
    from unigame_core import plugins
    from unigame_core.config import validate_component

    with pytest.raises(ConfigError, match="'gate.mode': must be one of image, text, both, got 'pixels'"):
        validate_component({"name": "clip", "mode": "pixels"}, plugins.validators(), "gate")  # before any load
    with pytest.raises(ConfigError, match="does not exist"):
        ClipGate(ClipGateConfig(model="x", model_config=str(tmp_path / "none.json")), "cpu")
