"""One step of the UniGame min-max game.

    1. adversary:   z = Enc(x);  x_adv = G(z + C(z))  (or an embedding-space variant)
                    C ascends  CE(U(x_adv), a) - lambda_reg ||delta||^2      (k passes, plan.adversary_updates)
    2. gate:        drop the samples whose meaning drifted (validator)
    3. mine:        per-sample hardness H_i = CE_i;  H_i >= tau  ->  buffer, each with its own (q, a)
    4. understander: ONE forward/backward on  clean batch (+) buffer draw:
                    mean CE_clean + beta * mean(w_i * CE_buffer_i)

The perturber only ever receives its own gradient (``autograd.grad`` w.r.t. its parameters) and the
LoRA weights only the understander's. Under torch.distributed the small trainable sets' gradients are
all-reduced by hand, and every rank runs the same passes in the same order, also a rank whose batch is
empty (all its images unreadable): it contributes zero gradients. Means are taken over the GLOBAL batch
(each rank sums its per-sample losses and divides by the global count), mined samples are gathered from
every rank into one buffer that every rank holds, and the buffer draw is the same on every rank (a
generator shared by all ranks), each rank computing the loss of its slice of it. So N ranks take the
same updates as one process with the same global batch (up to float summation order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..interfaces import Backend, Buffer, GateInput, HardSamples, StepPlan, Validator, VQABatch
from . import health
from .couplings import AdversarialView, Coupling
from .distributed import all_finite, all_sum, all_sums, average_gradients, gather_objects, rank_and_world
from .perturber import Perturber


@dataclass(frozen=True)
class GameSettings:
    """The fixed rules of the game, from the config. Built once, by ``build.game_settings`` only."""

    coupling: Coupling
    eps_max: float
    lambda_reg: float
    adversary_fraction: float
    buffer_fraction: float
    grad_clip: float
    hardness_reference: str = "none"
    gate_reference: str = "clean"  # round_trip: the gate compares the adversarial decode with the delta = 0 decode


@dataclass
class Players:
    """The live state one step updates (weights, optimizers, buffer, random streams) under fixed ``settings``.
    Built by ``build.build_players``."""

    settings: GameSettings
    backend: Backend
    perturber: Perturber | None
    lora_params: list[torch.nn.Parameter]
    opt_u: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer | None
    gate: Validator
    buffer: Buffer
    generator: torch.Generator = field(default_factory=torch.Generator)  # this rank's own noise
    draw_generator: torch.Generator = field(default_factory=torch.Generator)  # the same on every rank: buffer draws


@dataclass
class StepMetrics:
    """What one step reports (on this rank). NaN = not measured this step; add new figures as fields here."""

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
    empty: bool = False  # no rank had a readable image: nothing was played
    adversary_played: bool = False  # the adversary took its turn on this rank's samples (its figures are fresh)
    hardness: list[float] = field(default_factory=list)
    # game health (health.py): delta = 0 CE, saturation, buffer traffic
    ce_round_trip: float = float("nan")
    delta_saturation: float = float("nan")
    tokens_changed: float = float("nan")
    candidates: int = 0  # samples past the gate offered to the buffer (every rank's)
    drawn: int = 0  # samples drawn from the buffer for the understander
    adv_images: Tensor | None = None  # last adversarial pixels (for sample grids)


def game_step(p: Players, batch: VQABatch, plan: StepPlan) -> StepMetrics:
    m = StepMetrics(eps=p.settings.eps_max * plan.eps_scale, beta=plan.beta)
    if all_sum(len(batch), batch.images.device) == 0:  # every rank agrees: nothing readable anywhere
        m.skipped, m.empty = 1, True
        return m
    if p.settings.coupling.plays and plan.adversary_updates > 0:
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
    rules, coupling = p.settings, p.settings.coupling
    batch = _head(batch, rules.adversary_fraction)
    _, world = rank_and_world()
    share = world / max(all_sum(len(batch), batch.images.device), 1)  # sum * share = the global mean, averaged
    empty = len(batch) == 0  # this rank still takes every collective, with zero gradients
    clean = None if empty else coupling.clean_representation(p.backend, batch.images)
    reference, round_trip = (None, None) if empty else _round_trip(p, clean, batch)  # health reports it always
    offset = reference if rules.hardness_reference == "round_trip" else None  # what hardness is measured against
    learned = p.perturber is not None and coupling.learned
    view, ce = None, None
    for _ in range(plan.adversary_updates):
        if not empty:
            view = coupling.adversarial_view(p.backend, p.perturber, clean, m.eps, p.generator)
            ce = p.backend.understander.answer_loss(view.embeds, batch.questions, batch.answers)
        if not learned:
            break
        assert p.perturber is not None and p.opt_c is not None
        params = [q for q in p.perturber.parameters() if q.requires_grad]
        if view is not None and ce is not None and view.delta is not None:
            penalty = view.delta.pow(2).sum(-1).mean(-1)  # per sample mean over tokens of ||delta_i||^2
            # the perturber MAXIMISES CE - lambda ||d||^2
            objective = -(ce - rules.lambda_reg * penalty).sum() * share
            grads = list(torch.autograd.grad(objective, params))
        else:
            objective = torch.zeros((), device=batch.images.device)
            grads = [torch.zeros_like(q) for q in params]
        if not all_finite(objective):
            m.skipped += 1
            continue
        for q, g in zip(params, grads):
            q.grad = g
        average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, rules.grad_clip)
        p.opt_c.step()
        p.opt_c.zero_grad(set_to_none=True)
    if view is not None and ce is not None:
        ce = ce.detach().float()
        hardness = ce - offset if offset is not None else ce
        m.ce_adv = float(ce.mean())
        m.adversary_played = True
        m.ce_round_trip = float(reference.mean()) if reference is not None else float("nan")
        health.measure_turn(p.backend, coupling, view, m.eps, m)
        m.hardness = hardness.tolist()
        if view.delta is not None:
            m.delta_norm = float(view.delta.detach().norm(dim=-1).mean())
        if coupling.stores_pixels:
            m.adv_images = view.sample.detach()
    if plan.mine:
        gate_reference = round_trip if rules.gate_reference == "round_trip" else None
        local, kept = _candidates(p, batch, view, hardness, offset, gate_reference) if view is not None else (None, 0)
        passed, judged = all_sums([kept, len(batch) if view is not None else 0], batch.images.device)
        m.gate_pass = passed / judged if judged else float("nan")  # over every rank's samples, as the buffer sees
        _push_from_every_rank(p, local, batch.images.device, m)


@torch.no_grad()
def _round_trip(p: Players, clean: Tensor, batch: VQABatch) -> tuple[Tensor, Tensor | None]:
    """CE on the delta = 0 path (decode -> re-encode is not idempotent for every tokenizer), and that path's
    decoded pixels (None for a coupling that does not decode)."""
    embeds, pixels = p.settings.coupling.round_trip(p.backend, clean)
    return p.backend.understander.answer_loss(embeds, batch.questions, batch.answers).float(), pixels


def _candidates(
    p: Players, batch: VQABatch, view: AdversarialView, hardness: Tensor, offset: Tensor | None,
    gate_reference: Tensor | None,
) -> tuple[HardSamples | None, int]:
    """This rank's samples that passed the gate, each with its own question and answer (CPU, for gathering),
    and how many the gate kept. The gate compares the adversarial image with ``gate_reference`` (the delta = 0
    decode), else the clean one."""
    sample = view.sample.detach()
    texts = [f"{q} {a}" for q, a in zip(batch.questions, batch.answers)]
    adv_pixels = sample if p.settings.coupling.stores_pixels else batch.images
    before = batch.images if gate_reference is None else gate_reference
    verdict = p.gate.check(GateInput(before, adv_pixels, view.clean_tokens, view.adv_tokens.detach(), texts))
    keep = verdict.keep.to(hardness.device) & torch.isfinite(hardness)
    kept = int(verdict.keep.sum())
    idx = keep.nonzero().flatten().tolist()
    if not idx:
        return None, kept
    chosen = torch.tensor(idx, device=sample.device)
    return HardSamples(
        images=sample.index_select(0, chosen),
        questions=[batch.questions[i] for i in idx],  # each sample keeps its OWN question
        answers=[batch.answers[i] for i in idx],  # ... and its own answer
        hardness=hardness[idx].cpu(),
        reference=offset[idx].cpu() if offset is not None else None,
    ), kept


def _push_from_every_rank(p: Players, local: HardSamples | None, device: torch.device, m: StepMetrics) -> None:
    """Every rank pushes every rank's candidates, in rank order: the buffers stay identical across ranks and
    equal to the one buffer of a single process with the same global batch."""
    found = gather_objects(None if local is None else _to_cpu(local)) if rank_and_world()[1] > 1 else [local]
    found = [f for f in found if f is not None]
    if not found:
        return
    images = torch.cat([f.images.to(device) for f in found])
    references = [f.reference for f in found if f.reference is not None]
    m.candidates = len(images)
    m.mined = p.buffer.push(HardSamples(
        images=images,
        questions=[q for f in found for q in f.questions],
        answers=[a for f in found for a in f.answers],
        hardness=torch.cat([f.hardness.cpu() for f in found]),
        reference=torch.cat(references) if len(references) == len(found) else None,
    ))


def _to_cpu(s: HardSamples) -> HardSamples:
    return HardSamples(s.images.cpu(), s.questions, s.answers, s.hardness.cpu(),
                       None if s.reference is None else s.reference.cpu())


def understander_turn_(p: Players, batch: VQABatch, plan: StepPlan, m: StepMetrics) -> None:
    """ONE forward/backward of the understander on the clean batch plus this rank's slice of the buffer draw."""
    rules, coupling = p.settings, p.settings.coupling
    rank, world = rank_and_world()
    device = batch.images.device
    n_clean = all_sum(len(batch), device)  # the global batch: every rank's losses are shares of its mean
    n_draw = max(1, round(rules.buffer_fraction * n_clean)) if rules.buffer_fraction > 0 else 0
    drawn = p.buffer.draw(n_draw, p.draw_generator) if (plan.beta > 0 and coupling.plays and n_draw) else None
    extra, weights, n_drawn = None, None, 0
    if drawn is not None:
        n_drawn = m.drawn = len(drawn[0].questions)
        mine = torch.tensor_split(torch.arange(n_drawn), world)[rank].tolist()  # this rank's slice of the draw
        extra = HardSamples(drawn[0].images[mine], [drawn[0].questions[i] for i in mine],
                            [drawn[0].answers[i] for i in mine], drawn[0].hardness[mine])
        weights = drawn[1][mine]
    b = len(batch)
    loss = torch.zeros((), device=device)
    if b or (extra is not None and len(extra.questions)):
        has_extra = extra is not None and len(extra.questions) > 0
        extra_images = extra.images.to(device) if (extra is not None and has_extra) else None
        # an empty clean batch on this rank: only its slice of the draw
        embeds = coupling.understander_embeds(p.backend, batch.images if b else None, extra_images)
        questions = batch.questions + (extra.questions if has_extra else [])
        answers = batch.answers + (extra.answers if has_extra else [])
        losses = p.backend.understander.answer_loss(embeds, questions, answers)
        if b:
            loss = losses[:b].sum() * (world / n_clean)
            m.ce_clean = float(losses[:b].detach().mean())
        if has_extra:
            assert weights is not None
            buffer_part = (weights.to(losses.device) * losses[b:]).sum() * (world / n_drawn)
            loss = loss + plan.beta * buffer_part
            m.ce_buffer = float((weights.to(losses.device) * losses[b:]).detach().mean())
    if not all_finite(loss):
        m.skipped += 1
        p.opt_u.zero_grad(set_to_none=True)
        return
    if loss.requires_grad:
        loss.backward()
    average_gradients(p.lora_params)
    torch.nn.utils.clip_grad_norm_(p.lora_params, rules.grad_clip)
    p.opt_u.step()
    p.opt_u.zero_grad(set_to_none=True)
    m.loss_u = float(loss.detach())
