"""Qwen2.5-VL as the understander: device patchify = processor, manual CE = native forward, native generate."""

from __future__ import annotations

import torch
from PIL import Image


def _native_inputs(backend, raw, questions, answers=None):
    """What the HF processor makes of the same images and chat turns (the reference path)."""
    proc, prompts = backend.processor, backend.understander.prompts
    system = [{"role": "system", "content": [{"type": "text", "text": backend.settings.system_prompt}]}]
    texts = []
    for i, q in enumerate(questions):
        turns = system + prompts.messages(q, answers[i] if answers else None)
        texts.append(proc.apply_chat_template(turns, add_generation_prompt=answers is None, tokenize=False))
    pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in raw]
    return proc(text=texts, images=pil, padding=True, return_tensors="pt")


def test_patchify_equals_the_processor(backend, images):
    raw, pixels = images
    native = _native_inputs(backend, raw, ["what color?"] * 2)
    flat, grid = backend.understander.patches(pixels)
    assert torch.equal(grid, native["image_grid_thw"])
    assert flat.shape == native["pixel_values"].shape
    assert torch.allclose(flat, native["pixel_values"].float(), atol=1e-5)


def test_prompt_ids_equal_the_processors(backend, images):
    raw, _ = images
    questions, answers = ["what color is the square?", "is it red?"], ["red", "no"]
    native = _native_inputs(backend, raw, questions, answers)
    prompts = backend.understander.prompts
    batch = prompts.build(questions, answers)
    for i in range(2):
        ours = batch.input_ids[i][batch.attention_mask[i].bool()].tolist()
        theirs = native["input_ids"][i][native["attention_mask"][i].bool()].tolist()
        assert ours == theirs  # the template's trailing newline is whitespace to this tokenizer
    assert torch.equal(prompts.token_types(batch).sum(1), torch.tensor([4, 4]))  # (16 / 4 / 2)^2 merged patches


def test_answer_loss_equals_the_native_forward_loss(backend, images):
    raw, pixels = images
    questions, answers = ["what color is the square?", "is it red or blue?"], ["red", "blue circle"]
    u = backend.understander
    with torch.no_grad():
        ours = u.answer_loss(u.embed_images(pixels), questions, answers)
    for i in range(2):  # the native loss of each sample alone: labels on its answer tokens and <|im_end|>
        batch = u.prompts.build(questions[i:i + 1], answers[i:i + 1])
        native = _native_inputs(backend, raw[i:i + 1], questions[i:i + 1], answers[i:i + 1])
        ids = native["input_ids"][:, : batch.input_ids.shape[1]]  # the template's trailing newline is no target
        assert torch.equal(ids, batch.input_ids)
        labels = torch.where(batch.answer_mask, ids, torch.full_like(ids, -100))
        with torch.no_grad():
            out = backend.model(input_ids=ids, attention_mask=native["attention_mask"][:, : ids.shape[1]],
                                pixel_values=native["pixel_values"], image_grid_thw=native["image_grid_thw"],
                                mm_token_type_ids=native["mm_token_type_ids"][:, : ids.shape[1]], labels=labels)
        assert torch.allclose(ours[i], out.loss, atol=1e-5), (i, float(ours[i]), float(out.loss))


def test_answer_loss_ignores_padding_and_order_and_reaches_the_pixels(backend, images):
    _, pixels = images
    u = backend.understander
    questions, answers = ["what color is the square?", "is it?"], ["red", "yes yes yes yes"]
    both = u.answer_loss(u.embed_images(pixels), questions, answers)
    swapped = u.answer_loss(u.embed_images(pixels.flip(0)), questions[::-1], answers[::-1])
    alone = u.answer_loss(u.embed_images(pixels[:1]), questions[:1], answers[:1])
    assert torch.allclose(both, swapped.flip(0), atol=1e-5) and torch.allclose(both[:1], alone, atol=1e-5)
    x = pixels.clone().requires_grad_(True)
    u.answer_loss(u.embed_images(x), questions, answers).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_generate_equals_native_generate_on_processor_inputs(backend, images):
    raw, pixels = images
    questions = ["what color is the square?", "is it red?"]
    ours = backend.understander.generate(pixels, questions, max_new_tokens=4)
    native = _native_inputs(backend, raw, questions)
    prompts = backend.understander.prompts
    with torch.no_grad():
        out = backend.model.generate(**native, max_new_tokens=4, do_sample=False, guidance_scale=1.0,
                                     pad_token_id=prompts.pad_id, eos_token_id=prompts.eos_id)
    theirs = prompts.tokenizer.batch_decode(out[:, native["input_ids"].shape[1]:], skip_special_tokens=True)
    assert len(ours) == 2 and ours == [t.strip() for t in theirs]


def test_batched_greedy_answers_equal_one_at_a_time_token_for_token(backend, images, batched_equals_single):
    batched_equals_single(backend, images[1], ["what color is the square?", "is it red?"])
