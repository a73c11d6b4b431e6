"""One step of the UniGame min-max game.

    1. adversary:   z = Enc(x);  delta0 = C(z);  C ascends  lambda_adv CE(U(G(z + delta0))) - lambda_reg ||delta0||^2
                    (plan.adversary_updates passes); K per-sample projected ascent steps refine delta0 -> delta;
                    x_adv = G(z + delta)  (or an embedding-space variant)          (adversary.py)
    2. gate:        drop the samples whose meaning drifted (validator), judged against the delta = 0 decode
    3. mine:        per-sample hardness H_i = CE_i - CE_i(round trip);  H_i >= tau  ->  buffer, each with its own (q, a)
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

import torch

from ..distributed import all_finite, all_sum, average_gradients, rank_and_world
from ..interfaces import HardSamples, StepPlan, VQABatch
from .adversary import adversary_turn_
from .players import Players, StepMetrics

__all__ = ["adversary_turn_", "game_step", "understander_turn_"]


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
