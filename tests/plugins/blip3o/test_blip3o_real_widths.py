"""BLIP3-o-4B at its real widths (shipped ``arch/blip3o-4b.json``), one layer per stack: a game step and an answer.

A shape or config mistake that only shows at real size (Qwen2.5-VL-3B's 2048-wide LLM with 2 key/value heads
and M-RoPE sections, its 1280-wide vision tower and merger, EVA's 1792-wide features pooled to 64 tokens, the
SDXL-layout UNet's 320/640/1280 channels cross-attending to 1792-wide features, the VAE's 128..512 channels,
the DiT's 1792 width conditioned on 2048) fails here, in CI, on a CPU.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from unigame_blip3o.architecture import shipped, write_architecture
from unigame_blip3o.backend import Blip3oBackend
from unigame_blip3o.settings import BLIP3O_4B, Blip3oSettings
from unigame_core.testing import play_step, tiled_init

#: the side the diffusion decoder draws (a 16 x 16 latent; the real 1024 px is a 128 x 128 latent)
DECODER_SIZE = 128


@pytest.fixture(autouse=True)
def single_thread() -> None:
    """Overrides conftest.py's one-thread fixture: these passes are large enough to use every core."""


pytestmark = pytest.mark.usefixtures("empty_hub_cache")  # built from the shipped files only


def _one_layer_folder(folder: Path) -> Path:
    """BLIP3-o-4B's shipped architecture with one layer or block per stack, written like a snapshot."""
    files = shipped(BLIP3O_4B)
    assert files is not None
    config = files["config.json"]
    config["num_hidden_layers"] = 1
    config["vision_config"].update(depth=1, fullatt_block_indexes=[0])
    config["dit_config"] = {"layers": 1}
    files["eva/config.json"]["layers"] = 1
    unet = files["diffusion-decoder/unet/config.json"]
    unet.update(layers_per_block=1, transformer_layers_per_block=[1, 1, 1])
    files["diffusion-decoder/vae/config.json"]["layers_per_block"] = 1
    return write_architecture(folder, files)


@pytest.mark.slow
def test_real_widths_play_a_game_step_and_answer(tmp_path: Path) -> None:
    """Real: the LLM's hidden size 2048, MLP 11008, 16 heads with 2 key/value heads, M-RoPE sections (16, 24, 24),
    its 151936-token vocabulary (tied LM head); the vision tower's width 1280, patch 14, merge 2 and its merger
    to 2048 at the real 448 px (256 image tokens); EVA's width 1792, MLP 15360, patch 14 at 448 px, pooled to
    the real 64 shared tokens of 1792; the UNet's channels (320, 640, 1280), attention head dims (5, 10, 20),
    1792-wide cross-attention and its text-time embedding (3328); the VAE's channels (128, 256, 512, 512);
    the DiT's width 1792, 28 heads, 8 x 8 grid, conditioned on 2048 through its caption projection.

    Reduced: one layer per stack (LLM 1 of 36, vision tower 1 of 32 with full attention, EVA 1 of 64, DiT 1 of
    24), one res block per UNet and VAE level (of 2) and one transformer per UNet attention level (of 1, 2, 10);
    the decoder draws 128 px (a 16 x 16 latent) in one Euler step, not 1024 px in 50; the DiT samples in one step.
    """
    folder = _one_layer_folder(tmp_path / "blip3o-4b-1layer")
    with tiled_init():
        b = Blip3oBackend(Blip3oSettings(checkpoint=str(folder), random_weights=True, decoder_size=DECODER_SIZE,
                                         decoder_steps=1, dit_steps=1, max_new_tokens=2))
    text = b.model.config.text_config
    assert (text.hidden_size, text.vocab_size, text.num_key_value_heads, b.image_size) == (2048, 151936, 2, 448)
    assert b.encoder.token_shape == (64, 1792) and list(b.unet.config.block_out_channels) == [320, 640, 1280]
    assert b.head is not None and b.head.config.hidden == 1792 and b.head.config.condition == 2048
    metrics = play_step(b, "game.refine_steps=0", batch_size=1)
    assert metrics.adversary_played and math.isfinite(metrics.ce_adv) and math.isfinite(metrics.loss_u)
    answers = b.understander.generate(torch.rand(1, 3, 448, 448), ["what color is the square?"], max_new_tokens=2)
    assert len(answers) == 1 and isinstance(answers[0], str)
