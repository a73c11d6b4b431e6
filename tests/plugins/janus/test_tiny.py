"""The offline tiny-checkpoint builder (reused by the shapes world for its embedded model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import JanusProcessor

from unigame_janus.tiny import IMAGE_TOKENS, ROLE_TOKENS, build_tokenizer, tiny_config


def test_tokenizer_has_janus_tokens_and_the_given_words() -> None:
    tok = build_tokenizer(["Purple hexagon, ABOVE the star!"])
    assert (tok.image_token, tok.boi_token, tok.eoi_token) == tuple(IMAGE_TOKENS.values())
    for word in ("purple", "hexagon", "above", "star", ",", "!", *ROLE_TOKENS, *IMAGE_TOKENS.values()):
        assert tok.convert_tokens_to_ids(word) != tok.unk_token_id, word
    ids = tok("Purple hexagon?")["input_ids"]
    assert ids[0] == tok.bos_token_id and tok.unk_token_id not in ids  # BOS first, as Janus' tokenizer
    assert tok.decode(ids[1:]) == "purple hexagon ?"
    assert tok("<|User|>: zebra", add_special_tokens=False)["input_ids"][-1] == tok.unk_token_id


@pytest.mark.parametrize(("image_size", "patch_size"), [(32, 8), (16, 4), (64, 16)])
def test_vq_token_grid_equals_siglip_patch_grid(image_size: int, patch_size: int) -> None:
    config = tiny_config(build_tokenizer(), image_size=image_size, patch_size=patch_size)
    grid = image_size // patch_size
    assert config.vision_config.num_image_tokens == grid**2 and config.vq_config.num_patches == grid
    assert 2 ** (len(config.vq_config.channel_multiplier) - 1) == patch_size


def test_invalid_geometry_is_refused() -> None:
    tok = build_tokenizer()
    with pytest.raises(ValueError, match="power of two"):
        tiny_config(tok, image_size=36, patch_size=6)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        tiny_config(tok, image_size=30, patch_size=8)
    with pytest.raises(ValueError, match="GroupNorm"):
        tiny_config(tok, vq_channels=48)


def test_checkpoint_folder_is_a_complete_janus_checkpoint(tiny_ckpt: Path) -> None:
    names = {p.name for p in tiny_ckpt.iterdir()}
    assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
            "processor_config.json"} <= names
    processor = JanusProcessor.from_pretrained(tiny_ckpt)  # plain transformers, no extra arguments
    assert processor.num_image_tokens == 16 and processor.use_default_system_prompt
    assert processor.image_processor.size["height"] == 16
