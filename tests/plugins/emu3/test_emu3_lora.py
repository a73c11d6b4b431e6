"""LoRA sits on the LLM only; adapters save in PEFT format and reload to the same answers."""

from __future__ import annotations

import torch

from unigame_core.lora import attach_lora, load_adapter

QUESTIONS = ["what color is the square?", "is it red?"]
ANSWERS = ["blue", "yes"]


def test_lora_targets_the_llm_only_and_reloads(fresh_backend, images, tmp_path):
    _, pixels = images
    trained = fresh_backend()
    peft_model, params = attach_lora(trained, r=4, alpha=8, dropout=0.0)
    names = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert names and all(".text_model.layers." in n and "lora_" in n for n in names)
    assert not any("vqmodel" in n for n in names)
    assert all(p.dtype == torch.float32 for p in params)

    opt = torch.optim.AdamW(params, lr=1e-2)
    u = trained.understander
    with torch.no_grad():
        first = u.answer_loss(u.embed_images(pixels), QUESTIONS, ANSWERS)
    for _ in range(3):
        loss = u.answer_loss(u.embed_images(pixels), QUESTIONS, ANSWERS).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        after = u.answer_loss(u.embed_images(pixels), QUESTIONS, ANSWERS)
    assert float(after.mean()) < float(first.mean())  # the adapters learn

    peft_model.save_pretrained(str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_config.json").exists()
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()

    reloaded = fresh_backend()
    load_adapter(reloaded, tmp_path)  # a run directory holding adapter/
    with torch.no_grad():
        again = reloaded.understander.answer_loss(reloaded.understander.embed_images(pixels), QUESTIONS, ANSWERS)
    torch.testing.assert_close(again, after, rtol=1e-5, atol=1e-5)
