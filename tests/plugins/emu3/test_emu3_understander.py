"""The straight-through understander: native forward, soft-assignment gradient, answer-only CE, batching."""

from __future__ import annotations

import pickle

import torch
import torch.nn.functional as F

from unigame_core.game.perturber import Perturber

QUESTIONS = ["what color is the square?", "is it red?"]
ANSWERS = ["blue green", "yes"]


def _native_ce(backend, image: torch.Tensor, question: str, answer: str, n_answer: int) -> float:
    """CE from the processor + ``Emu3ForConditionalGeneration.forward`` on discrete image tokens."""
    prompts = backend.understander.prompts
    text = prompts.texts([question], [answer])[0] + backend.processor.tokenizer.eos_token
    inputs = backend.processor(images=[image.permute(1, 2, 0).numpy()], text=[text], return_tensors="pt")
    logits = backend.model(**inputs).logits[0]
    return float(F.cross_entropy(logits[-n_answer - 1 : -1], inputs["input_ids"][0, -n_answer:]))


def test_prompt_ids_match_the_processor(backend, images):
    raw, _ = images
    batch = backend.understander.prompts.build(QUESTIONS, ANSWERS)
    for i, (q, a) in enumerate(zip(QUESTIONS, ANSWERS)):
        text = backend.understander.prompts.texts([q], [a])[0] + backend.processor.tokenizer.eos_token
        native = backend.processor(images=[raw[i].permute(1, 2, 0).numpy()], text=[text])["input_ids"][0]
        assert batch.input_ids[i][batch.attention_mask[i].bool()].tolist() == list(native)
    assert backend.understander.prompts.num_image_tokens == 3 * 4  # h rows of w tokens + a terminator each


def test_straight_through_ce_equals_the_native_ce(backend, images):
    raw, pixels = images
    ours = backend.understander.answer_loss(backend.understander.embed_images(pixels), QUESTIONS, ANSWERS)
    assert ours.shape == (2,) and ours.dtype == torch.float32
    batch = backend.understander.prompts.build(QUESTIONS, ANSWERS)
    for i in range(2):
        native = _native_ce(backend, raw[i], QUESTIONS[i], ANSWERS[i], int(batch.answer_mask[i].sum()))
        assert abs(float(ours[i]) - native) < 1e-4


def test_image_embeddings_are_the_native_token_rows(backend, images):
    _, pixels = images
    u = backend.understander
    ids = u.image_ids(pixels)  # visual tokens + <|extra_200|> per row
    assert ids.shape == (2, 12) and (ids.view(2, 3, 4)[:, :, -1] == u.eol_id).all()
    table = backend.model.get_input_embeddings().weight
    with torch.no_grad():
        assert torch.equal(u.embed_images(pixels), table[ids])
    grad_path = u.embed_images(pixels.clone().requires_grad_(True))  # soft path active: same forward
    assert torch.equal(grad_path.detach(), table[ids])


def test_only_answer_positions_reach_the_lm_head(backend, images):
    _, pixels = images
    rows: list[int] = []
    hook = backend.model.lm_head.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[0]))
    try:
        backend.understander.answer_loss(backend.understander.embed_images(pixels), QUESTIONS, ANSWERS)
    finally:
        hook.remove()
    batch = backend.understander.prompts.build(QUESTIONS, ANSWERS)
    assert rows == [int(batch.answer_mask.sum())]  # answers + EOS, not every position


def test_gradient_reaches_the_perturbation_through_the_quantisation(backend, images):
    _, pixels = images
    u = backend.understander
    torch.manual_seed(0)
    perturber = Perturber(4, hidden=16, init_scale=1e-2)
    z = backend.encoder.encode(pixels)
    adv, delta = perturber(z, 0.05)
    assert (delta.norm(dim=-1) <= 0.05 * z.norm(dim=-1) + 1e-6).all()
    ce = u.answer_loss(u.embed_images(backend.decoder.decode(adv)), QUESTIONS, ANSWERS)
    ce.mean().backward()
    grads = [p.grad for p in perturber.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert all(not p.requires_grad for p in backend.model.parameters())


def test_topk_soft_assignment_matches_the_full_one(backend, images):
    _, pixels = images
    u, q = backend.understander, backend.understander.quantizer
    latents = torch.randn(2, 9, 4, generator=torch.Generator().manual_seed(0))

    def grad_of(topk: int) -> tuple[torch.Tensor, torch.Tensor]:
        q.topk = topk
        e = latents.clone().requires_grad_(True)
        out = q(e)
        (out * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
        return out.detach(), e.grad

    try:
        full_out, full_grad = grad_of(0)
        all_out, all_grad = grad_of(q.codebook.embedding.weight.shape[0])  # k = K: the same distribution
        few_out, few_grad = grad_of(4)
    finally:
        q.topk = 0
    assert torch.equal(full_out, all_out) and torch.equal(full_out, few_out)  # forward: always the hard rows
    torch.testing.assert_close(all_grad, full_grad, rtol=1e-4, atol=1e-5)
    assert few_grad.abs().sum() > 0
    cosine = F.cosine_similarity(few_grad.flatten(), full_grad.flatten(), dim=0)
    assert cosine > 0.5, float(cosine)
    assert u.quantizer.temperature > 0


def test_batched_generation_matches_one_by_one(backend, images):
    _, pixels = images
    questions = ["what color is the square?", "is it red?"]
    batched = backend.understander.generate(pixels, questions, max_new_tokens=3)
    single = [backend.understander.generate(pixels[i : i + 1], [q], max_new_tokens=3)[0]
              for i, q in enumerate(questions)]
    assert len(batched) == 2 and all(isinstance(t, str) for t in batched)
    assert batched == single


def test_image_transform_is_picklable_and_matches_the_processor(backend):
    transform = pickle.loads(pickle.dumps(backend.image_transform()))
    wide = torch.randint(0, 256, (3, 20, 40), dtype=torch.uint8)
    out = transform(wide)
    assert out.shape == (3, 24, 24) and out.dtype == torch.uint8
    assert (out[:, :6] == torch.tensor(backend.background, dtype=torch.uint8).view(3, 1, 1)).all()  # padded band
    square = torch.randint(0, 256, (3, 48, 48), dtype=torch.uint8)
    mine = backend.normalize(transform(square)[None].float() / 255)
    theirs = backend.processor.image_processor(images=[square.permute(1, 2, 0).numpy()], return_tensors="pt")
    torch.testing.assert_close(mine, theirs["pixel_values"].float(), rtol=0, atol=1e-5)


def test_batched_greedy_answers_equal_one_at_a_time_token_for_token(backend, images, batched_equals_single):
    batched_equals_single(backend, images[1], ["what color is the square?", "is it red?"])
