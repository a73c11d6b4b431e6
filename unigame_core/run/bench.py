"""``unigame bench``: what a UniGame step costs next to an SFT step on the same batch.

Every block is timed on the same random batch (median over ``steps`` repetitions after a warm-up,
synchronised on GPU). The headline ratio is the *amortised* UniGame step: the mean cost per step
over one cycle of the configured schedule (adversary turns every ``schedule.mine_every`` steps, a
clean (+) buffer understander update every step). The un-amortised adversary turn is printed too.

It reports as it goes, so a run of many minutes can be watched: each block is logged when its warm-up
ends (its first time and peak memory, ``measure.PeakMemory``), then one line per timed round (medians so
far), and ``bench.json`` / ``bench.md`` are rewritten after every round (``bench_report``). With
``answering`` batch sizes, greedy answering speed is timed last on the same model (``measure.answering_rates``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig

from ..game.adversary import adversary_turn_, encode, head, perturber_passes_, refined
from ..game.players import Players, StepMetrics
from ..game.step import game_step, understander_turn_
from ..interfaces import HardSamples, StepPlan, VQABatch
from . import build
from .bench_report import BenchReport
from .measure import BlockTiming, PeakMemory, Timer, answering_rates

log = logging.getLogger(__name__)

QUESTION = "what is the color of the object on the left side of the picture?"
ANSWER = "red"


def run_bench(cfg: DictConfig, steps: int = 5, random_weights: bool = False, *, output: Path | None = None,
              answering: Sequence[int] = (), overrides: Sequence[str] = (), max_new_tokens: int = 16) -> BenchReport:
    """Build the model, time every block (logging each as it finishes and each round), then, for each batch
    size in ``answering``, the greedy answering speed; ``bench.json`` and ``bench.md`` go to ``output``
    (rewritten after every round) when it is given."""
    where = build.placement(cfg.train.device, cfg.train.precision)
    extra = {"random_weights": True} if random_weights else {}
    backend = build.build_backend(cfg, where, **extra)
    _, lora_params = build.build_lora(cfg, backend)
    players, _ = build.build_players(cfg, backend, lora_params, where.device)
    eps_max, coupling = players.settings.eps_max, players.settings.coupling
    schedule = build.build_schedule(cfg)
    b, s = int(cfg.train.batch_size), backend.image_size
    gen = torch.Generator().manual_seed(0)
    batch = VQABatch(
        torch.rand(b, 3, s, s, generator=gen).to(where.device), [QUESTION] * b, [ANSWER] * b, [str(i) for i in range(b)]
    )
    # Fill the buffer with what this coupling stores (pixels or embeddings), so the understander's turn pays
    # for its draw, as it does in steady state.
    if coupling.plays:
        images = batch.images.clone()
        stored = images if coupling.stores_pixels else coupling.clean_representation(backend, images)
        players.buffer.push(HardSamples(stored, batch.questions, batch.answers, torch.full((b,), 1e3)))
    timed = Timer(where.device, steps)
    sft = StepPlan(adversary_updates=0, mine=False, eps_scale=1.0, beta=0.0)
    adv_only = StepPlan(adversary_updates=1, mine=True, eps_scale=1.0, beta=0.0)
    timed("SFT step (LoRA forward + backward + AdamW)", lambda: understander_turn_(players, batch, sft, StepMetrics()))
    if coupling.stores_pixels and players.perturber is not None:
        _decoder_parts(players, batch, timed)
    k = players.settings.refine_steps if coupling.refines else 0
    if k > 0:
        turn = encode(players, head(batch, players.settings.adversary_fraction))
        opening = perturber_passes_(players, turn, adv_only, StepMetrics(eps=eps_max))
        timed(f"  refinement ({k} per-sample ascent steps + the refined sample's CE)",
              lambda: refined(players, turn, opening, eps_max))
    if coupling.plays:
        learned = "1 perturber update" if players.perturber is not None else "the start"
        timed(f"adversary turn ({learned} + {k} refinement steps + gate + mining)",
              lambda: adversary_turn_(players, batch, adv_only, StepMetrics(eps=eps_max)))
        timed("understander turn (clean + buffer draw)",
              lambda: understander_turn_(players, batch, schedule.plan(10**9), StepMetrics()))
    cycle = max(int(cfg.schedule.get("mine_every", 1)), 1)
    start = int(cfg.schedule.get("start_step", 0))
    timed(f"UniGame step, amortised over the schedule's {cycle}-step cycle",
          lambda: [game_step(players, batch, schedule.plan(start + i)) for i in range(cycle)], per=cycle)
    weights = backend.stand_in or ("random weights, real architecture" if backend.random_weights else "")
    report = BenchReport(model=cfg.model or _default_model_name(), weights=weights, backend=str(cfg.backend.name),
                         device=_device_name(where.device), dtype=str(where.dtype).replace("torch.", ""),
                         threads=torch.get_num_threads(), batch_size=b, steps=steps,
                         peak_memory=PeakMemory.kind(where.device), overrides=list(overrides))
    log.info("%s: %d blocks, a warm-up of each then %d timed rounds", report.title(), len(timed.blocks), steps)

    def block_done(t: BlockTiming) -> None:
        report.blocks.append(t)
        log.info("%s: warm-up %.4f s, peak %.2f GiB", t.name.strip(), t.warmup_s, t.peak_gib)

    def round_done(k: int, timings: list[BlockTiming]) -> None:
        report.rounds_done = k
        log.info("round %d/%d: SFT step %.4f s, UniGame step %.4f s (%.2f x SFT, medians so far)", k, steps,
                 timings[0].seconds, timings[-1].seconds, report.unigame_ratio)
        if output is not None:
            report.write(output)

    timed.run(on_block=block_done, on_round=round_done)
    if answering:
        samples = 2 * max(answering)
        report.answering_samples, report.max_new_tokens = samples, max_new_tokens
        report.answering = answering_rates(backend, answering, samples=samples, max_new_tokens=max_new_tokens,
                                           device=where.device)
    report.print()
    if output is not None:
        log.info("figures written to %s", report.write(output))
    return report


def _decoder_parts(p: Players, batch: VQABatch, timed: Timer) -> None:
    """The decoder coupling's adversary turn, block by block."""
    assert p.perturber is not None
    be, eps_max = p.backend, p.settings.eps_max
    z = p.settings.coupling.clean_representation(be, batch.images)
    z_adv, _ = p.perturber(z, eps_max)
    with torch.no_grad():
        x_adv = be.decoder.decode(z_adv)
        emb = be.understander.embed_images(x_adv)
    perturber = p.perturber
    timed("  encode (shared tokens)", lambda: be.encoder.encode(batch.images))
    timed("  perturb", lambda: perturber(z, eps_max))
    timed("  decode (forward)", lambda: torch.no_grad()(be.decoder.decode)(z_adv))
    timed("  understanding encoder (forward)", lambda: torch.no_grad()(be.understander.embed_images)(x_adv))
    timed(
        "  LLM answer loss (forward)",
        lambda: torch.no_grad()(be.understander.answer_loss)(emb, batch.questions, batch.answers),
    )
    timed("  gate", lambda: p.gate.check(_gate_input(batch, x_adv, z, z_adv)))


def _gate_input(batch: VQABatch, x_adv: torch.Tensor, z: torch.Tensor, z_adv: torch.Tensor):  # noqa: ANN202
    from ..interfaces import GateInput

    return GateInput(
        batch.images, x_adv, z, z_adv.detach(), [f"{q} {a}" for q, a in zip(batch.questions, batch.answers)]
    )


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({os.cpu_count()} cores)"


def _default_model_name() -> str:
    from .. import plugins
    from ..config import default_model

    return default_model(plugins.backends()) or "default"
