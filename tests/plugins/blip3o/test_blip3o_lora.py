"""LoRA reaches the LLM's attention projections only; the generator's parts stay frozen and outside it."""

from __future__ import annotations

import re

import torch

from unigame_core.lora import attach_lora, load_adapter


def test_lora_targets_only_the_language_models_attention(fresh_backend, tmp_path, images):
    backend = fresh_backend()
    _, pixels = images
    u = backend.understander
    with torch.no_grad():
        before = u.answer_loss(u.embed_images(pixels), ["what color?"] * 2, ["red", "blue"])
    peft_model, params = attach_lora(backend, r=4, alpha=8, dropout=0.0)
    names = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert names and len(names) == len(params) and all(p.dtype == torch.float32 for p in params)
    pattern = re.compile(r".*\blanguage_model\.layers\.\d+\.self_attn\.(q|k|v|o)_proj\.lora_[AB]\..*")
    assert all(pattern.fullmatch(n) for n in names), names
    assert not any("visual" in n for n in names)
    outside = [backend.eva, backend.unet, backend.vae, backend.head]
    assert not any("lora" in n for m in outside for n, _ in m.named_parameters())
    assert not any(p.requires_grad for m in outside for p in m.parameters())
    with torch.no_grad():  # a fresh adapter (B = 0) changes nothing
        assert torch.allclose(u.answer_loss(u.embed_images(pixels), ["what color?"] * 2, ["red", "blue"]), before)
    for p in params:  # train-like change, then save and reload into a new backend
        p.data.add_(0.05 * torch.randn_like(p))
    with torch.no_grad():
        trained = u.answer_loss(u.embed_images(pixels), ["what color?"] * 2, ["red", "blue"])
    assert not torch.allclose(trained, before)
    peft_model.save_pretrained(tmp_path / "adapter")
    saved = (tmp_path / "adapter" / "adapter_model.safetensors").stat().st_size
    assert saved < 200_000  # adapters only: no EVA, DiT, UNet or VAE weights
    other = fresh_backend()
    load_adapter(other, tmp_path)
    with torch.no_grad():
        again = other.understander.answer_loss(other.understander.embed_images(pixels), ["what color?"] * 2,
                                               ["red", "blue"])
    assert torch.allclose(again, trained, atol=1e-6)
