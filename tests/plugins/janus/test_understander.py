"""Understander: Janus' own chat layout, per-sample answer CE (vs transformers' loss), batching, generation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from unigame_janus.backend import JanusBackend
from unigame_janus.prompt import ChatLayout
from unigame_janus.settings import JanusSettings

QA = tuple[list[str], list[str]]


def _hf_inputs(backend: JanusBackend, pixels: torch.Tensor, question: str, answer: str | None = None) -> dict:
    """The processor's own tokenisation of one chat turn (system prompt, image expansion, template)."""
    turn = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    if answer is None:
        text = backend.processor.apply_chat_template(turn, add_generation_prompt=True)
    else:
        turn.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})
        text = backend.processor.apply_chat_template(turn) + backend.tokenizer.eos_token
    image = Image.fromarray((pixels * 255).round().byte().permute(1, 2, 0).numpy())
    return backend.processor(text=text, images=image, return_tensors="pt")


def test_layout_is_read_from_the_chat_template(backend: JanusBackend) -> None:
    assert ChatLayout.from_processor(backend.processor) == ChatLayout()  # Janus-Pro's layout


def test_prompt_ids_equal_the_processors(backend: JanusBackend, pixels: torch.Tensor, qa: QA) -> None:
    questions, answers = qa
    for q, a in zip(questions, answers):
        assert torch.equal(
            backend.understander.prompts.build([q]).input_ids, _hf_inputs(backend, pixels[0], q)["input_ids"]
        )
        full = backend.understander.prompts.build([q], [a])
        assert torch.equal(full.input_ids, _hf_inputs(backend, pixels[0], q, a)["input_ids"])
        n_answer = len(backend.tokenizer(" " + a, add_special_tokens=False)["input_ids"]) + 1  # + EOS
        assert full.answer_mask.sum() == n_answer and full.answer_mask[0, -n_answer:].all()
    text = backend.tokenizer.decode(backend.understander.prompts.build(questions[:1]).input_ids[0])
    assert text.startswith(backend.tokenizer.bos_token + " you are a helpful language and vision assistant")
    assert text.count("<image_placeholder>") == backend.model.config.vision_config.num_image_tokens == 16


def test_per_sample_ce_equals_transformers_loss(backend: JanusBackend, qa: QA) -> None:
    """Quantised pixels, so the processor's uint8 round trip sees exactly the same image."""
    s = backend.image_size
    pixels = (torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(3)) * 255).round() / 255
    und = backend.understander
    for q, a in zip(*qa):
        inputs = _hf_inputs(backend, pixels[0], q, a)
        labels = torch.full_like(inputs["input_ids"], -100)
        mask = und.prompts.build([q], [a]).answer_mask
        labels[mask] = inputs["input_ids"][mask]
        with torch.no_grad():
            out = backend.model(**inputs, labels=labels)
            ours = und.answer_loss(und.embed_images(pixels), [q], [a])
            # and by hand on the full-vocabulary logits of the same sequence
            shift = F.cross_entropy(out.logits[0, :-1], inputs["input_ids"][0, 1:], reduction="none")[mask[0, 1:]]
        assert ours.shape == (1,) and ours.dtype == torch.float32
        assert torch.allclose(ours, out.loss.reshape(1), atol=1e-5), (ours, out.loss)
        assert torch.allclose(ours, shift.mean().reshape(1), atol=1e-5)


def test_each_sample_is_independent_of_batch_order_and_padding(backend: JanusBackend, pixels: torch.Tensor,
                                                               qa: QA) -> None:
    questions, answers = qa
    und = backend.understander
    with torch.no_grad():
        embeds = und.embed_images(pixels)
        batch = und.answer_loss(embeds, questions, answers)
        alone = torch.cat(
            [und.answer_loss(embeds[i : i + 1], questions[i : i + 1], answers[i : i + 1]) for i in range(3)]
        )
        order = [2, 0, 1]
        permuted = und.answer_loss(embeds[order], [questions[i] for i in order], [answers[i] for i in order])
        # padded differently: the short sample next to a much longer neighbour
        long_q = questions[0] + " is the circle left of the square or right of the triangle ?" * 3
        padded = und.answer_loss(embeds[[0, 1]], [questions[0], long_q], [answers[0], answers[2] * 4])
    assert batch.shape == (3,) and torch.isfinite(batch).all() and batch.unique().numel() == 3
    assert torch.allclose(batch, alone, atol=1e-5)
    assert torch.allclose(permuted, batch[order], atol=1e-5)
    assert torch.allclose(padded[0], batch[0], atol=1e-5)


def test_lm_head_sees_answer_positions_only(backend: JanusBackend, pixels: torch.Tensor, qa: QA) -> None:
    rows: list[int] = []
    hook = backend.model.lm_head.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    try:
        with torch.no_grad():
            backend.understander.answer_loss(backend.understander.embed_images(pixels), *qa)
    finally:
        hook.remove()
    assert rows == [int(backend.understander.prompts.build(*qa).answer_mask.sum())]


def test_gradient_flows_from_ce_through_siglip_and_vq_decoder_to_z(backend: JanusBackend, pixels: torch.Tensor,
                                                                   qa: QA) -> None:
    z = backend.encoder.encode(pixels)
    delta = torch.zeros_like(z, requires_grad=True)
    und = backend.understander
    loss = und.answer_loss(und.embed_images(backend.decoder.decode(z + delta)), *qa)
    loss.mean().backward()
    grad = delta.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert (grad.flatten(1).norm(dim=1) > 0).all()  # every sample's tokens get a gradient
    assert all(p.grad is None for p in backend.model.parameters())  # base frozen: no weight grads


def test_grad_checkpointing_gives_the_same_loss_and_gradient(tiny_ckpt, backend: JanusBackend,
                                                             pixels: torch.Tensor, qa: QA) -> None:
    ckpt = JanusBackend(JanusSettings(checkpoint=str(tiny_ckpt), grad_checkpointing=True))
    lm = ckpt.model.model.language_model
    assert lm.training and all(layer.gradient_checkpointing for layer in lm.layers)
    grads, losses, calls = [], [], []
    for b in (backend, ckpt):
        count: list[int] = []
        hook = b.model.model.language_model.layers[0].input_layernorm.register_forward_hook(lambda *_: count.append(1))
        x = pixels.clone().requires_grad_(True)
        loss = b.understander.answer_loss(b.understander.embed_images(x), *qa)
        loss.sum().backward()
        hook.remove()
        grads.append(x.grad)
        losses.append(loss.detach())
        calls.append(len(count))
    assert calls == [1, 2]  # the checkpointed layer is recomputed in the backward pass
    assert torch.allclose(losses[0], losses[1], atol=1e-6) and torch.allclose(grads[0], grads[1], atol=1e-6)


def test_generate_returns_one_string_per_sample_batch_invariant(backend: JanusBackend, pixels: torch.Tensor,
                                                                 qa: QA) -> None:
    questions, _ = qa
    answers = backend.understander.generate(pixels, questions, max_new_tokens=4)
    assert isinstance(answers, list) and len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert all(a == a.strip() for a in answers)
    alone = [
        backend.understander.generate(pixels[i : i + 1], questions[i : i + 1], max_new_tokens=4)[0] for i in range(3)
    ]
    assert alone == answers


def test_text_to_image_batched_and_seeded(backend: JanusBackend) -> None:
    assert "text_to_image" in backend.capabilities
    images = backend.generate_images(["a red circle", "two blue squares left of a triangle"], seed=0)
    s = backend.image_size
    assert images.shape == (2, 3, s, s) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    again = backend.generate_images(["a red circle", "two blue squares left of a triangle"], seed=0)
    other = backend.generate_images(["a red circle", "two blue squares left of a triangle"], seed=1)
    assert torch.equal(images, again) and not torch.equal(images, other)


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_text_to_image_without_amplified_guidance(backend: JanusBackend, scale: float) -> None:
    """transformers' Janus merges its doubled batch only for a scale above 1; the backend merges it below."""
    prompts = ["a red circle", "two blue squares left of a triangle"]
    images = backend.generate_images(prompts, guidance_scale=scale, seed=0)
    assert images.shape == (2, 3, backend.image_size, backend.image_size)
    assert torch.equal(images, backend.generate_images(prompts, guidance_scale=scale, seed=0))
    assert not torch.equal(images, backend.generate_images(prompts, guidance_scale=5.0, seed=0))


def test_text_to_image_defaults_to_the_checkpoints_guidance(backend: JanusBackend) -> None:
    prompts = ["a red circle", "two blue squares left of a triangle"]
    backend.model.generation_config.guidance_scale = 1.0
    try:
        images = backend.generate_images(prompts, seed=0)
        assert torch.equal(images, backend.generate_images(prompts, guidance_scale=1.0, seed=0))
        assert not torch.equal(images, backend.generate_images(prompts, guidance_scale=5.0, seed=0))
    finally:
        backend.model.generation_config.guidance_scale = 5


def test_guidance_merge_matches_transformers_for_scales_above_one() -> None:
    from transformers.generation.logits_process import ClassifierFreeGuidanceLogitsProcessor

    from unigame_janus.backend import MergeGuidance

    scores = torch.randn(4, 11, generator=torch.Generator().manual_seed(0))
    ids = torch.zeros(2, 1, dtype=torch.long)  # one row per prompt; the scores hold both halves
    torch.testing.assert_close(MergeGuidance(3.0)(ids, scores), ClassifierFreeGuidanceLogitsProcessor(3.0)(ids, scores))
    torch.testing.assert_close(MergeGuidance(1.0)(ids, scores), scores[:2])  # scale 1: the conditional logits


def test_batched_greedy_answers_equal_one_at_a_time_token_for_token(backend: JanusBackend, pixels: torch.Tensor,
                                                                     qa: QA, batched_equals_single) -> None:
    batched_equals_single(backend, pixels, qa[0])
