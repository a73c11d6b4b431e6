"""Text-to-image through the generation branch (Emu3-Gen) and the capability switch."""

from __future__ import annotations

import pytest
import torch

from unigame_core.errors import CapabilityError


def test_generate_images_gives_seeded_pixels_in_the_unit_range(fresh_backend):
    backend = fresh_backend(text_to_image=True)
    assert backend.capabilities == frozenset({"text_to_image"})
    prompts = ["a red square", "a blue circle on the green"]
    first = backend.generate_images(prompts, guidance_scale=2.0, seed=3)
    assert first.shape == (2, 3, 24, 24) and first.dtype == torch.float32
    assert 0.0 <= float(first.min()) and float(first.max()) <= 1.0
    assert torch.equal(first, backend.generate_images(prompts, guidance_scale=2.0, seed=3))  # seeded


def test_the_generated_block_is_visual_tokens_in_rows_closed_by_the_terminators(fresh_backend, monkeypatch):
    backend = fresh_backend(text_to_image=True)
    model, tokenizer = backend._model, backend.processor.tokenizer
    written: list[torch.Tensor] = []
    generate = model.generate

    def recording(**kwargs):
        out = generate(**kwargs)
        written.append(out[:, kwargs["input_ids"].shape[1]:])
        return out

    monkeypatch.setattr(model, "generate", recording)
    images = backend.generate_images(["a red square", "a blue circle"], guidance_scale=1.0, seed=0)
    side = images.shape[-1] // 8  # the tiny MoVQ's downsampling: 24 px -> 3 x 3 tokens
    (new,) = written
    mapping = model.vocabulary_mapping
    rows = new[:, : side * (side + 1)].reshape(2, side, side + 1)
    assert torch.isin(rows[:, :, :side], torch.tensor(mapping.image_tokens)).all()  # only visual tokens
    assert (rows[:, :, side] == mapping.eol_token_id).all()  # every row closed
    ends = [tokenizer.convert_tokens_to_ids(t) for t in (tokenizer.eof_token, tokenizer.eoi_token)]
    assert new[:, side * (side + 1): side * (side + 1) + 2].tolist() == [ends, ends]


def test_generate_images_needs_the_capability(backend):
    assert "text_to_image" not in backend.capabilities
    with pytest.raises(CapabilityError, match="text-to-image"):
        backend.generate_images(["a red square"])
