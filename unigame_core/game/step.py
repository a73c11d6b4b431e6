"""One step of the UniGame min-max game.

    1. adversary:   z = Enc(x);  x_adv = G(z + C(z))  (or an embedding-space variant)
                    C ascends  CE(U(x_adv), a) - lambda_reg ||delta||^2      (k passes, plan.adversary_updates)
    2. gate:        drop the samples whose meaning drifted (validator)
    3. mine:        per-sample hardness H_i = CE_i;  H_i >= tau  ->  buffer, each with its own (q, a)
    4. understander: ONE forward/backward on  clean batch (+) buffer draw:
                    mean CE_clean + beta * mean(w_i * CE_buffer_i)

The perturber only ever receives its own gradient (``autograd.grad`` w.r.t. its parameters) and the
LoRA weights only the understander's. Under torch.distributed the small trainable sets' gradients are
all-reduced by hand, and every rank runs the same passes in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..interfaces import Backend, Buffer, GateInput, HardSamples, StepPlan, Validator, VQABatch
from . import couplings
from .distributed import all_finite, average_gradients
from .perturber import Perturber


@dataclass
class Players:
    """Everything one step updates, and the fixed settings of the game."""

    backend: Backend
    coupling: str
    perturber: Perturber | None
    lora_params: list[torch.nn.Parameter]
    opt_u: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer | None
    gate: Validator
    buffer: Buffer
    eps_max: float
    lambda_reg: float
    adversary_fraction: float
    buffer_fraction: float
    grad_clip: float
    hardness_reference: str = "none"
    generator: torch.Generator = field(default_factory=torch.Generator)


@dataclass
class StepMetrics:
    loss_u: float = float("nan")
    ce_clean: float = float("nan")
    ce_buffer: float = float("nan")
    ce_adv: float = float("nan")
    delta_norm: float = float("nan")
    gate_pass: float = float("nan")
    mined: int = 0
    buffer_size: int = 0
    tau: float = float("nan")
    eps: float = 0.0
    beta: float = 0.0
    skipped: int = 0  # non-finite updates skipped this step
    hardness: list[float] = field(default_factory=list)
    adv_images: Tensor | None = None  # last adversarial pixels (for sample grids)


def game_step(p: Players, batch: VQABatch, plan: StepPlan) -> StepMetrics:
    m = StepMetrics(eps=p.eps_max * plan.eps_scale, beta=plan.beta)
    adversary_turn = p.coupling != "none" and plan.adversary_updates > 0
    if adversary_turn:
        adversary_turn_(p, batch, plan, m)
    understander_turn_(p, batch, plan, m)
    m.buffer_size = len(p.buffer)
    m.tau = p.buffer.threshold
    return m


def _head(batch: VQABatch, fraction: float) -> VQABatch:
    """The first ``fraction`` of an (already shuffled) batch; the same size on every rank."""
    k = max(1, round(fraction * len(batch)))
    return VQABatch(batch.images[:k], batch.questions[:k], batch.answers[:k], batch.ids[:k])


def adversary_turn_(p: Players, batch: VQABatch, plan: StepPlan, m: StepMetrics) -> None:
    """Perturber ascent passes on a share of the batch, then gate and mine from the last pass."""
    batch = _head(batch, p.adversary_fraction)
    clean = couplings.clean_representation(p.coupling, p.backend, batch.images)
    reference = _round_trip_ce(p, clean, batch) if p.hardness_reference == "round_trip" else None
    learned = p.perturber is not None and p.coupling != "noise"
    view, ce = None, None
    for _ in range(plan.adversary_updates):
        view = couplings.adversarial_view(p.coupling, p.backend, p.perturber, clean, m.eps, p.generator)
        ce = p.backend.understander.answer_loss(view.embeds, batch.questions, batch.answers)
        if not learned:
            break
        assert p.perturber is not None and p.opt_c is not None and view.delta is not None
        penalty = view.delta.pow(2).sum(-1).mean(-1)  # per sample mean over tokens of ||delta_i||^2
        objective = -(ce - p.lambda_reg * penalty).mean()  # the perturber MAXIMISES CE - lambda ||delta||^2
        params = [q for q in p.perturber.parameters() if q.requires_grad]
        grads = torch.autograd.grad(objective, params)
        if not all_finite(objective):
            m.skipped += 1
            continue
        for q, g in zip(params, grads):
            q.grad = g
        average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, p.grad_clip)
        p.opt_c.step()
        p.opt_c.zero_grad(set_to_none=True)
    assert view is not None and ce is not None
    ce = ce.detach().float()
    hardness = ce - reference if reference is not None else ce
    m.ce_adv = float(ce.mean())
    m.hardness = hardness.tolist()
    if view.delta is not None:
        m.delta_norm = float(view.delta.detach().norm(dim=-1).mean())
    sample = view.sample.detach()
    if plan.mine:
        _mine(p, batch, view, sample, hardness, m)
    if sample.dim() == 4:
        m.adv_images = sample


@torch.no_grad()
def _round_trip_ce(p: Players, clean: Tensor, batch: VQABatch) -> Tensor:
    """CE on the delta = 0 path: decode -> re-encode is not idempotent for every tokenizer."""
    if p.coupling == "decoder":
        embeds = p.backend.understander.embed_images(p.backend.decoder.decode(clean))
    else:
        embeds = clean
    return p.backend.understander.answer_loss(embeds, batch.questions, batch.answers).float()


def _mine(
    p: Players, batch: VQABatch, view: couplings.AdversarialView, sample: Tensor, hardness: Tensor, m: StepMetrics
) -> None:
    texts = [f"{q} {a}" for q, a in zip(batch.questions, batch.answers)]
    adv_pixels = sample if sample.dim() == 4 else batch.images
    verdict = p.gate.check(GateInput(batch.images, adv_pixels, view.clean_tokens, view.adv_tokens.detach(), texts))
    keep = verdict.keep.to(hardness.device) & torch.isfinite(hardness)
    m.gate_pass = float(verdict.keep.float().mean())
    idx = keep.nonzero().flatten().tolist()
    if idx:
        chosen = torch.tensor(idx, device=sample.device)
        m.mined = p.buffer.push(
            HardSamples(
                images=sample.index_select(0, chosen),
                questions=[batch.questions[i] for i in idx],  # each sample keeps its OWN question
                answers=[batch.answers[i] for i in idx],  # ... and its own answer
                hardness=hardness[idx],
            )
        )


def understander_turn_(p: Players, batch: VQABatch, plan: StepPlan, m: StepMetrics) -> None:
    """ONE forward/backward of the understander on the clean batch plus a buffer draw."""
    n_draw = max(1, round(p.buffer_fraction * len(batch))) if p.buffer_fraction > 0 else 0
    drawn = p.buffer.draw(n_draw, p.generator) if (plan.beta > 0 and p.coupling != "none" and n_draw) else None
    space = couplings.sample_space(p.coupling)
    extra = drawn[0] if drawn else None
    embeds = couplings.understander_embeds(space, p.backend, batch.images, extra.images if extra else None)
    questions = batch.questions + (extra.questions if extra else [])
    answers = batch.answers + (extra.answers if extra else [])
    losses = p.backend.understander.answer_loss(embeds, questions, answers)
    b = len(batch)
    ce_clean = losses[:b].mean()
    loss = ce_clean
    if drawn is not None:
        weights = drawn[1].to(losses.device)
        ce_buffer = (weights * losses[b:]).mean()
        loss = ce_clean + plan.beta * ce_buffer
        m.ce_buffer = float(ce_buffer.detach())
    if not all_finite(loss):
        m.skipped += 1
        p.opt_u.zero_grad(set_to_none=True)
        return
    loss.backward()
    average_gradients(p.lora_params)
    torch.nn.utils.clip_grad_norm_(p.lora_params, p.grad_clip)
    p.opt_u.step()
    p.opt_u.zero_grad(set_to_none=True)
    m.loss_u = float(loss.detach())
    m.ce_clean = float(ce_clean.detach())
