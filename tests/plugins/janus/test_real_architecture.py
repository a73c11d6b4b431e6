"""Random weights build the REAL Janus-Pro architecture (shipped ``arch/*.json``) on any device, offline; the tiny
stand-in only on request (``backend.tiny``), and labelled; the real widths play a game step."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

from unigame_core.errors import ConfigError
from unigame_core.testing import play_step, tiled_init
from unigame_janus.backend import JanusBackend
from unigame_janus.loading import ARCH_DIR
from unigame_janus.settings import JANUS_PRO_1B, JanusSettings


pytestmark = pytest.mark.usefixtures("empty_hub_cache")  # built from the shipped files only


@pytest.mark.slow  # 20 s on the shared test machine: the 2 B-parameter model is built on meta to count it
def test_random_weights_of_an_alias_are_the_real_architecture_on_a_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Janus-Pro-1B's 2.08 B parameters in float32 are 7.7 GiB: with less free, one sentence (not a tiny model)."""
    monkeypatch.setattr("unigame_core.hf.available_memory", lambda device: 2**30)
    with pytest.raises(ConfigError, match=r"'deepseek-community/Janus-Pro-1B' architecture needs 7\.7 GiB") as info:
        JanusBackend(JanusSettings(checkpoint=JANUS_PRO_1B, random_weights=True))
    assert "backend.tiny=true" in info.value.hint


def test_the_tiny_stand_in_is_built_only_on_request_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        b = JanusBackend(JanusSettings(checkpoint=JANUS_PRO_1B, tiny=True))
    assert b.model.config.text_config.hidden_size == 64
    assert b.random_weights and b.stand_in == (f"TINY STAND-IN for '{JANUS_PRO_1B}' (random weights, not the real "
                                               "architecture)")
    assert any("TINY STAND-IN" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert JanusBackend.__dict__.get("stand_in") is None  # the base class decides: every HF backend labels alike


def _one_layer_folder(folder: Path, name: str) -> Path:
    """The shipped architecture with one layer per stack (LLM, SigLIP, one VQ res block per level)."""
    config = json.loads((ARCH_DIR / name).read_text())
    config["text_config"]["num_hidden_layers"] = 1
    config["vision_config"]["num_hidden_layers"] = 1
    config["vq_config"]["num_res_blocks"] = 1
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.slow
def test_real_widths_play_a_game_step_and_answer(tmp_path: Path) -> None:
    """Where the time goes (profiled on the shared 2-core machine, one thread, load ~7.5): building 22 s, of
    which 13 s drew the random weights (0.4 B of them the 102400 x 2048 embedding and LM head; ``tiled_init``
    makes that 2 s); the game step 81 s, almost all the VQ at its real 384 px and 128..512 channels (encoder
    11 s, two decoder passes 27 s, and their backward); the answer 2 s. Whole test: 35 s (load ~5).

    Janus-Pro-1B's widths (LLM 2048, vocabulary 102400, SigLIP 1024, VQ channels 128..512, codebook 16384 x 8),
    its 384 px and 576 image tokens, but one layer per stack: one game step, then one generated answer."""
    folder = _one_layer_folder(tmp_path / "janus-1b-1layer", "janus-pro-1b.json")
    with tiled_init():  # the 0.4 B parameters of embeddings and heads: 13 s of normal draws, 2 s tiled
        b = JanusBackend(JanusSettings(checkpoint=str(folder), random_weights=True, max_new_tokens=2))
    text = b.model.config.text_config
    assert (text.hidden_size, text.vocab_size, b.image_size) == (2048, 102400, 384)
    assert b.encoder.token_shape == (576, 8) and b.model.model.vqmodel.quantize.embedding.weight.shape == (16384, 8)
    metrics = play_step(b, "game.refine_steps=0", batch_size=1)
    assert metrics.adversary_played and math.isfinite(metrics.ce_adv) and math.isfinite(metrics.loss_u)
    answers = b.understander.generate(torch.rand(1, 3, 384, 384), ["what color is the square?"], max_new_tokens=2)
    assert len(answers) == 1 and isinstance(answers[0], str)
