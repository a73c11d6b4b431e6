"""Emu3 at its real widths (shipped ``arch/emu3-chat.json``), one layer per stack: a game step and an answer.

A shape or config mistake that only shows at real size (the MoVQ's 256..1024 channels, its 32768 x 4 codebook,
the LLM's 4096 width with 32 query and 8 key/value heads, the soft quantiser's (tokens x 32768) assignment)
fails here, in CI, on a CPU.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from unigame_core.testing import play_step, tiled_init
from unigame_emu3.backend import Emu3Backend
from unigame_emu3.loading import ARCH_DIR, _with_vocabulary, generic_processor
from unigame_emu3.settings import Emu3Settings

#: the side of the test images: 64 px = an 8 x 8 grid of MoVQ tokens (the real 512 px gives 64 x 64 = 4096
#: image tokens, whose 4096-wide LLM and 256-channel 512 px MoVQ passes take minutes on a CPU)
SIZE = 64


@pytest.fixture(autouse=True)
def single_thread() -> None:
    """Overrides conftest.py's one-thread fixture: these passes are large enough to use every core."""


pytestmark = pytest.mark.usefixtures("empty_hub_cache")  # built from the shipped files only


def _one_layer_folder(folder: Path) -> Path:
    """Emu3-Chat's architecture with one LLM layer and one MoVQ res block per level, around the generic
    tokenizer (all 32768 visual tokens): its vocabulary is ``len(tokenizer)``, not the real 184622."""
    values = json.loads((ARCH_DIR / "emu3-chat.json").read_text())
    values["text_config"]["num_hidden_layers"] = 1
    values["vq_config"]["num_res_blocks"] = 1
    processor = generic_processor(int(values["vq_config"]["codebook_size"]))
    values["text_config"]["vocab_size"] = len(processor.tokenizer)
    config = _with_vocabulary(values, processor.tokenizer)
    folder.mkdir(parents=True)
    config.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_real_widths_play_a_game_step_and_answer(tmp_path: Path) -> None:
    """Real: the LLM's hidden size 4096, MLP 14336, 32 heads with 8 key/value heads; the MoVQ's channels
    (256, 512, 512, 1024), its attention at 1024, temporal factor 4, its 32768-code x 4 codebook and the
    (tokens x 32768) soft assignment into the LLM's visual-token rows; Emu3's processor numbers.

    Reduced: one LLM layer (of 32) and one MoVQ res block per level (of 2); images of 64 px (8 x 8 = 64 tokens,
    not 512 px and 4096); the vocabulary is the generic tokenizer's 32768 visual tokens plus Emu3's special
    tokens and a few words (32.8 k rows, not 184622: the real one is 2 x 3 GiB of float32 embedding and LM head,
    too much for a CI runner). The reduced vocabulary keeps what the game touches: every visual token has its
    row, the soft quantiser maps all 32768 codes to ids, and the LM head's width is the tokenizer's.
    """
    folder = _one_layer_folder(tmp_path / "emu3-1layer")
    with tiled_init():
        b = Emu3Backend(Emu3Settings(checkpoint=str(folder), random_weights=True, image_size=SIZE,
                                     max_new_tokens=2))
    text, vq = b.model.config.text_config, b.model.model.vqmodel
    assert (text.hidden_size, text.num_key_value_heads, vq.config.base_channels) == (4096, 8, 256)
    assert vq.quantize.embedding.weight.shape == (32768, 4)
    assert b.encoder.token_shape == ((SIZE // 8) ** 2, 4)
    assert b.model.vocabulary_mapping.img2bpe_mapping_tensor.shape == (32768,)
    metrics = play_step(b, "game.refine_steps=0", batch_size=1)
    assert metrics.adversary_played and math.isfinite(metrics.ce_adv) and math.isfinite(metrics.loss_u)
    answers = b.understander.generate(torch.rand(1, 3, SIZE, SIZE), ["what color is the square?"], max_new_tokens=2)
    assert len(answers) == 1 and isinstance(answers[0], str)
