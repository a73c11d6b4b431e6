"""LoRA on the LLM only (through the core's peft helpers), fp32 trainables, adapter round trip, bf16 outputs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from peft import PeftModel

from unigame_core.lora import attach_lora, load_adapter
from unigame_janus.backend import JanusBackend
from unigame_janus.settings import JanusSettings

QA = tuple[list[str], list[str]]


def _randomise_lora(backend: JanusBackend, seed: int = 0) -> None:
    """LoRA B starts at zero (a no-op); give every adapter weight a value so the adapter changes outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in backend.model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=g) * 0.5)


@pytest.mark.parametrize("include_mlp", [False, True])
def test_target_regex_selects_llm_projections_only(backend: JanusBackend, include_mlp: bool) -> None:
    pattern = backend.lora_target_modules(include_mlp)
    names = [n for n, _ in backend.model.named_modules()]
    hits = [n for n in names if re.fullmatch(pattern, n)]
    layers = backend.model.config.text_config.num_hidden_layers
    assert len(hits) == layers * (7 if include_mlp else 4)
    assert all(n.startswith("model.language_model.layers.") for n in hits)
    siglip = [n for n in names if n.startswith("model.vision_model") and n.endswith(("q_proj", "k_proj", "v_proj"))]
    assert siglip and not any(re.fullmatch(pattern, n) for n in siglip)
    assert not any(re.fullmatch(pattern, "base_model.model." + n) for n in siglip)  # also once peft wraps the model


def test_lora_trains_the_llm_only_in_fp32(fresh_backend: JanusBackend, pixels: torch.Tensor, qa: QA) -> None:
    peft_model, params = attach_lora(fresh_backend, r=4, alpha=8, dropout=0.0)
    assert isinstance(peft_model, PeftModel) and params
    trainable = {n: p for n, p in fresh_backend.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n and ".language_model." in n for n in trainable)
    assert all(p.dtype == torch.float32 for p in trainable.values())
    assert not any("vision_model" in n for n, _ in fresh_backend.model.named_modules() if "lora" in n)

    und = fresh_backend.understander
    und.answer_loss(und.embed_images(pixels), *qa).mean().backward()
    for name, param in fresh_backend.model.named_parameters():
        if param.requires_grad and "lora_B" in name:
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        elif not param.requires_grad:
            assert param.grad is None, name


def test_adapter_round_trip_reproduces_outputs(tiny_ckpt: Path, fresh_backend: JanusBackend, pixels: torch.Tensor,
                                               qa: QA, tmp_path: Path) -> None:
    base = JanusBackend(JanusSettings(checkpoint=str(tiny_ckpt)))
    with torch.no_grad():
        base_loss = base.understander.answer_loss(base.understander.embed_images(pixels), *qa)
    peft_model, _ = attach_lora(fresh_backend, r=4, alpha=8, dropout=0.0)
    _randomise_lora(fresh_backend)
    with torch.no_grad():
        tuned = fresh_backend.understander.answer_loss(fresh_backend.understander.embed_images(pixels), *qa)
        tuned_answers = fresh_backend.understander.generate(pixels, qa[0], max_new_tokens=3)
    saved = tmp_path / "adapter"
    peft_model.save_pretrained(str(saved))
    assert (saved / "adapter_config.json").exists() and (saved / "adapter_model.safetensors").exists()
    assert not torch.allclose(tuned, base_loss)

    load_adapter(base, tmp_path)  # a fresh base, as `unigame eval --adapter RUN_DIR` does
    assert not any(p.requires_grad for p in base.model.parameters())
    with torch.no_grad():
        reloaded = base.understander.answer_loss(base.understander.embed_images(pixels), *qa)
    assert torch.equal(reloaded, tuned)
    assert base.understander.generate(pixels, qa[0], max_new_tokens=3) == tuned_answers


def test_bf16_roles_return_fp32_and_lora_stays_fp32(tiny_ckpt: Path, pixels: torch.Tensor, qa: QA) -> None:
    b = JanusBackend(JanusSettings(checkpoint=str(tiny_ckpt)), dtype=torch.bfloat16)
    assert b.model.dtype == torch.bfloat16
    z = b.encoder.encode(pixels)
    delta = torch.zeros_like(z, requires_grad=True)
    image = b.decoder.decode(z + delta)
    attach_lora(b, r=4, alpha=8, dropout=0.0)
    loss = b.understander.answer_loss(b.understander.embed_images(image), *qa)
    assert z.dtype == image.dtype == loss.dtype == torch.float32 and torch.isfinite(loss).all()
    assert all(p.dtype == torch.float32 for p in b.model.parameters() if p.requires_grad)
    loss.mean().backward()
    assert delta.grad is not None and delta.grad.dtype == torch.float32 and delta.grad.norm() > 0
