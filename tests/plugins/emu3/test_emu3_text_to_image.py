"""Text-to-image through the generation branch (Emu3-Gen) and the capability switch."""

from __future__ import annotations

import pytest
import torch

from unigame_core.errors import CapabilityError


def test_generate_images_draws_the_constrained_token_block(fresh_backend):
    backend = fresh_backend(text_to_image=True)
    assert backend.capabilities == frozenset({"text_to_image"})
    prompts = ["a red square", "a blue circle on the green"]
    first = backend.generate_images(prompts, guidance_scale=2.0, seed=3)
    assert first.shape == (2, 3, 24, 24) and first.dtype == torch.float32
    assert 0.0 <= float(first.min()) and float(first.max()) <= 1.0
    assert torch.equal(first, backend.generate_images(prompts, guidance_scale=2.0, seed=3))  # seeded


def test_generate_images_needs_the_capability(backend):
    assert "text_to_image" not in backend.capabilities
    with pytest.raises(CapabilityError, match="text-to-image"):
        backend.generate_images(["a red square"])
