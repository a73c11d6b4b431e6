"""Text-to-image: LLM queries -> DiT flow matching -> decoder, seeded, with the checkpoint's guidance."""

from __future__ import annotations

import pytest
import torch

from unigame_core.errors import CapabilityError


def test_generate_images_is_seeded_and_shaped(backend):
    assert backend.capabilities == frozenset({"text_to_image"})
    prompts = ["a red square", "a blue circle on the green"]
    first = backend.generate_images(prompts, guidance_scale=2.0, seed=3)
    assert first.shape == (2, 3, 16, 16) and first.dtype == torch.float32
    assert 0.0 <= float(first.min()) and float(first.max()) <= 1.0
    assert torch.equal(first, backend.generate_images(prompts, guidance_scale=2.0, seed=3))
    assert not torch.equal(first, backend.generate_images(prompts, guidance_scale=2.0, seed=4))
    assert not torch.allclose(first[0], first[1])  # the caption matters


def test_query_states_ignore_left_padding(backend):
    t2i = backend._t2i
    alone = t2i.query_states(["red"])
    padded = t2i.query_states(["red", "a blue circle on the green square"])
    assert alone.shape == (1, 16, 64) and torch.allclose(padded[:1], alone, atol=1e-5)


def test_guidance_none_takes_the_checkpoints_scale(backend):
    assert backend.model.generation_config.guidance_scale == 3.0  # the tiny checkpoint ships it
    default = backend.generate_images(["a red square"], seed=1)
    assert torch.equal(default, backend.generate_images(["a red square"], guidance_scale=3.0, seed=1))
    assert not torch.equal(default, backend.generate_images(["a red square"], guidance_scale=1.0, seed=1))


def test_text_to_image_off_is_a_capability_error(fresh_backend):
    backend = fresh_backend(text_to_image=False)
    assert "text_to_image" not in backend.capabilities and backend.head is None
    with pytest.raises(CapabilityError, match="text-to-image"):
        backend.generate_images(["a red square"])
