"""``check_backend``: the promises a backend makes to the game, checked on a real instance.

A plugin author calls ``unigame_core.testing.check_backend(MyBackend(settings))`` in their own tests
(a tiny checkpoint, on CPU). It fails with an ``AssertionError`` naming the first broken promise:

* the roles are there and of the right types; weights frozen and the model in eval mode on arrival;
* ``image_transform`` is picklable and gives uint8 ``(3, S, S)``;
* float32 pixels in ``[0, 1]`` go in; ``encode`` gives ``token_shape`` tokens, ``decode`` gives ``[0, 1]``
  pixels, ``embed_images`` gives ``embedding_dim`` embeddings;
* ``answer_loss`` is one finite value per sample, and a sample's loss does not depend on its batch;
* with LoRA attached (as training does): gradients reach the LoRA weights and every input a perturber
  pushes on (tokens through the decoder, pixels, image embeddings), and no frozen weight gets one;
* the adversary's per-sample refinement runs through this backend's decoder and understander: the refined
  delta of every sample is finite, non-zero and inside its per-token bound;
* ``generate`` returns one string per question; ``generate_images`` works or raises ``CapabilityError``.

The LoRA adapter is attached to ``backend.model`` for the check and removed again afterwards.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .errors import CapabilityError
from .interfaces import Backend, Decoder, SharedTokenEncoder, Understander

QUESTIONS = ("what color is the square?", "is the red circle left of the blue square?")
ANSWERS = ("red", "yes it is")


def _expect(condition: bool, promise: str) -> None:
    if not condition:
        raise AssertionError(f"check_backend: {promise}")


def check_backend(backend: Backend, *, questions: Sequence[str] = QUESTIONS, answers: Sequence[str] = ANSWERS,
                  max_new_tokens: int = 3) -> None:
    """Check ``backend`` against the contract of ``unigame_core.interfaces.Backend`` (see the module doc).

    ``questions`` and ``answers`` (one batch, of different lengths so that padding is exercised) should use
    words a tiny test tokenizer knows.
    """
    _check_roles(backend)
    _check_frozen(backend.model, "on arrival")
    _expect(not any(m.training for m in backend.model.modules()),
            "backend.model must be in eval mode (the core never calls .train(); LoRA dropout is the only dropout).")
    _check_transform(backend)
    device = next(backend.model.parameters()).device
    s = backend.image_size
    pixels = torch.rand(len(questions), 3, s, s, generator=torch.Generator().manual_seed(0)).to(device)
    z = _check_tokens(backend, pixels)
    _check_loss(backend.understander, pixels, list(questions), list(answers), backend.model)
    _check_gradients(backend, pixels, z, list(questions), list(answers))
    _check_refinement(backend, z, list(questions), list(answers))
    texts = backend.understander.generate(pixels, list(questions), max_new_tokens=max_new_tokens)
    _expect(isinstance(texts, list) and len(texts) == len(questions) and all(isinstance(t, str) for t in texts),
            f"understander.generate must return one str per question, got {texts!r}.")
    _check_text_to_image(backend)


def _check_roles(backend: Backend) -> None:
    _expect(isinstance(backend, Backend), f"{type(backend).__name__} must subclass unigame_core.interfaces.Backend.")
    for role, cls in (("encoder", SharedTokenEncoder), ("decoder", Decoder), ("understander", Understander)):
        _expect(isinstance(getattr(backend, role), cls), f"backend.{role} must be a {cls.__name__}.")
    _expect(isinstance(backend.model, nn.Module), "backend.model must be a torch.nn.Module (LoRA attaches to it).")
    _expect(isinstance(backend.image_size, int) and backend.image_size > 0, "backend.image_size must be an int > 0.")
    caps = backend.capabilities
    _expect(isinstance(caps, frozenset) and all(isinstance(c, str) for c in caps),
            f"backend.capabilities must be a frozenset of str, got {caps!r}.")
    n, d = backend.encoder.token_shape
    _expect(isinstance(n, int) and isinstance(d, int) and n > 0 and d > 0, "encoder.token_shape must be (N, D) ints.")
    _expect(isinstance(backend.understander.embedding_dim, int), "understander.embedding_dim must be an int.")
    limit = backend.understander.context_length
    _expect(limit is None or (isinstance(limit, int) and limit > 0), "understander.context_length: None or an int.")
    targets = backend.lora_target_modules()
    names = [name for name, _ in backend.model.named_modules()]
    hits = ([n for n in names if re.fullmatch(targets, n)] if isinstance(targets, str)
            else [n for n in names if any(n == t or n.endswith(f".{t}") for t in targets)])
    _expect(bool(hits), f"lora_target_modules() {targets!r} matches no module of backend.model.")


def _check_frozen(model: nn.Module, when: str) -> None:
    thawed = [n for n, p in model.named_parameters() if "lora_" not in n and (p.requires_grad or p.grad is not None)]
    _expect(not thawed, f"the backend's own weights must stay frozen ({when}): {thawed[:3]} take gradients. "
                        "Call model.requires_grad_(False) when building it.")


def _check_transform(backend: Backend) -> None:
    transform = backend.image_transform()
    try:
        transform = pickle.loads(pickle.dumps(transform))  # data-loader workers receive it pickled
    except Exception as exc:  # noqa: BLE001 - any pickling failure breaks the workers
        raise AssertionError(f"check_backend: image_transform() must be picklable: {exc}") from exc
    raw = torch.randint(0, 256, (3, 37, 23), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = transform(raw)
    s = backend.image_size
    _expect(isinstance(out, Tensor) and out.dtype == torch.uint8 and tuple(out.shape) == (3, s, s),
            f"image_transform() must map uint8 (3, H, W) to uint8 (3, {s}, {s}).")


def _check_tokens(backend: Backend, pixels: Tensor) -> Tensor:
    b, s = pixels.shape[0], backend.image_size
    z = backend.encoder.encode(pixels)
    shape = (b, *backend.encoder.token_shape)
    _expect(tuple(z.shape) == shape and z.is_floating_point() and bool(torch.isfinite(z).all()),
            f"encoder.encode must give finite float tokens of shape {shape}, got {tuple(z.shape)} {z.dtype}.")
    x = backend.decoder.decode(z)
    _expect(tuple(x.shape) == (b, 3, s, s) and x.is_floating_point(),
            f"decoder.decode must give float pixels (B, 3, {s}, {s}), got {tuple(x.shape)} {x.dtype}.")
    _expect(bool(torch.isfinite(x).all()) and float(x.min()) >= -1e-4 and float(x.max()) <= 1 + 1e-4,
            "decoder.decode must give finite pixels in [0, 1].")
    embeds = backend.understander.embed_images(pixels)
    width = backend.understander.embedding_dim
    _expect(embeds.dim() == 3 and embeds.shape[0] == b and embeds.shape[2] == width,
            f"understander.embed_images must give (B, N_u, {width}), got {tuple(embeds.shape)}.")
    return z.detach()


def _check_loss(understander: Understander, pixels: Tensor, questions: list[str], answers: list[str],
                model: nn.Module) -> None:
    with torch.no_grad():
        batch = understander.answer_loss(understander.embed_images(pixels), questions, answers)
        alone = understander.answer_loss(understander.embed_images(pixels[:1]), questions[:1], answers[:1])
    _expect(tuple(batch.shape) == (len(questions),) and bool(torch.isfinite(batch).all()) and bool((batch > 0).all()),
            f"understander.answer_loss must give one finite positive CE per sample, shape (B,), got {batch}.")
    tol = 1e-3 if next(model.parameters()).dtype == torch.float32 else 5e-2
    _expect(torch.allclose(batch[:1].float(), alone.float(), rtol=tol, atol=tol),
            f"a sample's loss must not depend on its batch (padding, masks): {float(batch[0]):.5f} in a batch, "
            f"{float(alone[0]):.5f} alone.")


def _check_gradients(backend: Backend, pixels: Tensor, z: Tensor, questions: list[str], answers: list[str]) -> None:
    """With LoRA attached, every input a perturber moves and the LoRA weights get a gradient; nothing else."""
    from .lora import attach_lora

    peft_model, params = attach_lora(backend, r=2, alpha=4, dropout=0.0)
    u = backend.understander
    try:
        _expect(bool(params), "attaching LoRA made no trainable parameter.")
        tokens = z.clone().requires_grad_(True)
        _backward(lambda: u.answer_loss(u.embed_images(backend.decoder.decode(tokens)), questions, answers))
        _has_grad(tokens, "the shared tokens z through decoder.decode (the decoder coupling)")
        grads = [p.grad for p in params if p.grad is not None]
        _expect(any(bool(g.abs().sum() > 0) for g in grads),
                "no LoRA weight got a gradient: the understander must run backend.model's LLM (where LoRA sits).")
        _check_frozen(backend.model, "after a backward pass with LoRA attached")
        image = pixels.clone().requires_grad_(True)
        _backward(lambda: u.answer_loss(u.embed_images(image), questions, answers))
        _has_grad(image, "the pixels through understander.embed_images")
        embeds = u.embed_images(pixels).detach().requires_grad_(True)
        _backward(lambda: u.answer_loss(embeds, questions, answers))
        _has_grad(embeds, "the image embeddings (the embedding coupling)")
    finally:
        peft_model.unload()  # the base modules again, without the adapters


def _check_refinement(backend: Backend, z: Tensor, questions: list[str], answers: list[str], eps: float = 0.1) -> None:
    """Two refinement steps from delta = 0 (game/refine.py), as the adversary's turn takes them."""
    from .game.couplings import DecoderCoupling
    from .game.refine import bound_radius, refine

    u, coupling = backend.understander, DecoderCoupling()

    def ce(delta: Tensor) -> Tensor:
        return u.answer_loss(coupling.view(backend, z, delta).embeds, questions, answers).float()

    radius = bound_radius(z, eps)
    delta = refine(torch.zeros_like(z, dtype=torch.float32), ce, radius, steps=2, step=0.5)
    norms = delta.norm(dim=-1)
    _expect(bool(torch.isfinite(delta).all()) and bool((norms > 0).any(dim=-1).all()),
            "the adversary's refinement found no direction for some sample: d CE / d delta through "
            "decoder.decode and the understander is zero or not finite.")
    _expect(bool((norms <= radius.squeeze(-1) * (1 + 1e-4) + 1e-8).all()),
            "a refined delta left its per-token bound eps * ||z_i||.")


def _backward(loss: Callable[[], Tensor]) -> None:
    loss().float().mean().backward()


def _has_grad(t: Tensor, what: str) -> None:
    _expect(t.grad is not None and bool(torch.isfinite(t.grad).all()) and bool(t.grad.abs().sum() > 0),
            f"no finite, non-zero gradient reaches {what}.")


def _check_text_to_image(backend: Backend) -> None:
    s = backend.image_size
    if "text_to_image" not in backend.capabilities:
        try:
            backend.generate_images(["a red square"])
        except CapabilityError:
            return
        raise AssertionError("check_backend: generate_images must raise CapabilityError without 'text_to_image'.")
    images = backend.generate_images(["a red square"], seed=0)
    _expect(tuple(images.shape) == (1, 3, s, s) and images.is_floating_point()
            and float(images.min()) >= -1e-4 and float(images.max()) <= 1 + 1e-4,
            f"generate_images must give (B, 3, {s}, {s}) float pixels in [0, 1], got {tuple(images.shape)}.")
