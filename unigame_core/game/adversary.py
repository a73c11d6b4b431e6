"""The adversary's turn, in the paper's order, one helper per step:

    1. encode       z = Enc(x) (frozen), and the delta = 0 round trip: the reference of hardness, gate and health
    2. perturber    C learns from its own objective, lambda_adv * CE(U(G(z + C(z)))) - lambda_reg * ||delta||^2,
                    ``plan.adversary_updates`` passes; its (last) delta is the starting point
    3. refine       K per-sample projected ascent steps from that start (refine.py; game.refine_steps)
    4. score        the understander's per-sample CE on the refined sample -> hardness (minus the round trip's)
    5. gate, mine   gate-passed samples, each with its own question and answer -> the hard-sample buffer

Where this departs from the paper: step 3. On VQ tokenizers a per-token perturber is a lookup table (one shift
per code) and cannot attack a given image (``refine.py``); the authors' perturber acts on continuous features.
With ``game.refine_steps=0`` the turn is the paper's as written.

Gradients: the perturber only ever receives its own (``autograd.grad`` w.r.t. its parameters), refinement only
moves delta, and the LoRA weights receive nothing here. Under torch.distributed every rank takes the same
collectives in the same order: a rank whose share of the batch is empty contributes zero gradients to the
perturber's update and skips the passes that take no collective (refinement, scoring).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..distributed import all_finite, all_sum, all_sums, average_gradients, gather_objects, rank_and_world
from ..interfaces import GateInput, HardSamples, StepPlan, VQABatch
from . import health
from .couplings import AdversarialView
from .players import GameSettings, Players, StepMetrics
from .refine import bound_radius, refine


@dataclass
class Turn:
    """This rank's share of the adversary's turn: the samples, their shared tokens and the delta = 0 path."""

    batch: VQABatch
    clean: Tensor | None  # z (None: this rank's share is empty)
    reference: Tensor | None  # per-sample CE on the delta = 0 round trip
    round_trip: Tensor | None  # the delta = 0 decode as pixels (None for a coupling that does not decode)
    share: float  # sum * share = the global mean, averaged over ranks

    @property
    def empty(self) -> bool:
        return self.clean is None


@dataclass
class Attack:
    """The adversary's sample at one delta: the delta (detached), the view of it and the per-sample CE there."""

    delta: Tensor
    view: AdversarialView
    ce: Tensor
    ascent: Tensor | None = None  # the gradient of the adversary's objective at ``delta``, when one was taken


def adversary_turn_(p: Players, batch: VQABatch, plan: StepPlan, m: StepMetrics) -> None:
    """The adversary's turn on ``game.adversary_fraction`` of the batch (the module docstring's five steps)."""
    turn = encode(p, head(batch, p.settings.adversary_fraction))
    start = perturber_passes_(p, turn, plan, m)
    final = refined(p, turn, start, m.eps)
    hardness = score(p, turn, start, final, m)
    if plan.mine:
        gate_and_mine(p, turn, final, hardness, m)


def head(batch: VQABatch, fraction: float) -> VQABatch:
    """The first ``fraction`` of an (already shuffled) batch; the same size on every rank."""
    k = max(1, round(fraction * len(batch)))
    return VQABatch(batch.images[:k], batch.questions[:k], batch.answers[:k], batch.ids[:k])


def encode(p: Players, batch: VQABatch) -> Turn:
    """Step 1: the shared tokens and the delta = 0 round trip (its CE and its decode)."""
    _, world = rank_and_world()
    share = world / max(all_sum(len(batch), batch.images.device), 1)
    if len(batch) == 0:  # this rank still takes every collective, with zero gradients
        return Turn(batch, None, None, None, share)
    coupling = p.settings.coupling
    clean = coupling.clean_representation(p.backend, batch.images)
    with torch.no_grad():  # decode -> re-encode is not idempotent for every tokenizer: measure it
        embeds, pixels = coupling.round_trip(p.backend, clean)
        reference = p.backend.understander.answer_loss(embeds, batch.questions, batch.answers).float()
    return Turn(batch, clean, reference, pixels, share)


def objective(rules: GameSettings, ce: Tensor, delta: Tensor) -> Tensor:
    """The adversary's objective per sample, which it MAXIMISES: lambda_adv * CE - lambda_reg * mean_i ||delta_i||^2."""
    return rules.lambda_adv * ce.float() - rules.lambda_reg * delta.pow(2).sum(-1).mean(-1)


def _attack_at(p: Players, turn: Turn, delta: Tensor) -> tuple[AdversarialView, Tensor]:
    assert turn.clean is not None
    view = p.settings.coupling.view(p.backend, turn.clean, delta)
    return view, p.backend.understander.answer_loss(view.embeds, turn.batch.questions, turn.batch.answers)


def perturber_passes_(p: Players, turn: Turn, plan: StepPlan, m: StepMetrics) -> Attack | None:
    """Step 2: the perturber's passes, each one update from its own objective; returns the adversary's starting
    point (the last pass's delta, with the objective's gradient at it when refinement will use it). A coupling
    with nothing learned makes its start once (zero, or random for the noise controls). None: empty rank."""
    rules, coupling = p.settings, p.settings.coupling
    wants_grad = coupling.refines and rules.refine_steps > 0  # the first refinement step reuses this gradient
    if p.perturber is None or not coupling.learned:
        if turn.empty:
            return None
        assert turn.clean is not None
        delta = coupling.start(None, turn.clean, m.eps, p.generator).requires_grad_(wants_grad)
        with torch.set_grad_enabled(wants_grad):
            view, ce = _attack_at(p, turn, delta)
            ascent = torch.autograd.grad(objective(rules, ce, delta).sum(), [delta])[0] if wants_grad else None
        return Attack(delta.detach(), view, ce.detach().float(), ascent)
    assert p.opt_c is not None
    params = [q for q in p.perturber.parameters() if q.requires_grad]
    start = None
    for _ in range(plan.adversary_updates):
        if turn.empty:
            loss = torch.zeros((), device=turn.batch.images.device)
            grads = [torch.zeros_like(q) for q in params]
        else:
            assert turn.clean is not None
            delta = coupling.start(p.perturber, turn.clean, m.eps, p.generator)
            view, ce = _attack_at(p, turn, delta)
            loss = -objective(rules, ce, delta).sum() * turn.share  # the optimizer minimises: ascend the objective
            grads = list(torch.autograd.grad(loss, [*params, delta] if wants_grad else params))
            ascent = -grads.pop() if wants_grad else None
            start = Attack(delta.detach(), view, ce.detach().float(), ascent)
        if not all_finite(loss):
            m.skipped += 1
            continue
        for q, g in zip(params, grads):
            q.grad = g
        average_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, rules.grad_clip)
        p.opt_c.step()
        p.opt_c.zero_grad(set_to_none=True)
    return start


def refined(p: Players, turn: Turn, start: Attack | None, eps: float) -> Attack | None:
    """Step 3: ``game.refine_steps`` per-sample projected ascent steps from the start; the refined sample and its
    CE (the start itself when there is nothing to refine)."""
    rules = p.settings
    if start is None or not rules.coupling.refines or rules.refine_steps <= 0:
        return start
    assert turn.clean is not None

    def value(delta: Tensor) -> Tensor:
        return objective(rules, _attack_at(p, turn, delta)[1], delta)

    delta = refine(start.delta, value, bound_radius(turn.clean, eps), rules.refine_steps, rules.refine_step,
                   first_grad=start.ascent)
    with torch.no_grad():
        view, ce = _attack_at(p, turn, delta)
    return Attack(delta, view, ce.float())


def score(p: Players, turn: Turn, start: Attack | None, final: Attack | None, m: StepMetrics) -> Tensor | None:
    """Step 4: the turn's figures and each sample's hardness (CE, minus the round trip's CE when
    ``game.hardness_reference=round_trip``). None on an empty rank."""
    if final is None or start is None:
        return None
    rules, coupling = p.settings, p.settings.coupling
    m.adversary_played = True
    m.ce_adv = float(final.ce.mean())
    m.ce_start = float(start.ce.mean())
    m.ce_round_trip = float(turn.reference.mean()) if turn.reference is not None else float("nan")
    m.delta_norm = float(final.delta.norm(dim=-1).mean())
    m.delta_bound = float(bound_radius(turn.clean, m.eps).mean()) if turn.clean is not None else float("nan")
    health.measure_turn(p.backend, coupling, start.delta if coupling.learned else None, final.view, m.eps, m)
    if coupling.stores_pixels:
        m.adv_images = final.view.sample.detach()
    hardness = final.ce - turn.reference if rules.hardness_reference == "round_trip" else final.ce
    m.hardness = hardness.tolist()
    return hardness


def gate_and_mine(p: Players, turn: Turn, final: Attack | None, hardness: Tensor | None, m: StepMetrics) -> None:
    """Step 5: the gate judges every sample against the delta = 0 decode (``game.gate_reference=round_trip``) or
    the clean image; the kept ones go to the buffer from every rank, each with its own question and answer."""
    local, kept = None, 0
    if final is not None and hardness is not None:
        local, kept = _candidates(p, turn, final.view, hardness)
    passed, judged = all_sums([kept, len(turn.batch) if final is not None else 0], turn.batch.images.device)
    m.gate_pass = passed / judged if judged else float("nan")  # over every rank's samples, as the buffer sees
    _push_from_every_rank(p, local, turn.batch.images.device, m)


def _candidates(p: Players, turn: Turn, view: AdversarialView, hardness: Tensor) -> tuple[HardSamples | None, int]:
    """This rank's samples that passed the gate (CPU, for gathering), and how many the gate kept."""
    batch, rules = turn.batch, p.settings
    sample = view.sample.detach()
    texts = [f"{q} {a}" for q, a in zip(batch.questions, batch.answers)]
    adv_pixels = sample if rules.coupling.stores_pixels else batch.images
    before = turn.round_trip if rules.gate_reference == "round_trip" and turn.round_trip is not None else batch.images
    verdict = p.gate.check(GateInput(before, adv_pixels, view.clean_tokens, view.adv_tokens.detach(), texts))
    keep = verdict.keep.to(hardness.device) & torch.isfinite(hardness)
    kept = int(verdict.keep.sum())
    idx = keep.nonzero().flatten().tolist()
    if not idx:
        return None, kept
    chosen = torch.tensor(idx, device=sample.device)
    offset = turn.reference if rules.hardness_reference == "round_trip" else None
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
