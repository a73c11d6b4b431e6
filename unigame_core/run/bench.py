"""``unigame bench``: what a UniGame step costs next to an SFT step on the same batch.

Every block is timed on the same random batch (median over ``steps`` repetitions after a warm-up,
synchronised on GPU). The headline ratio is the *amortised* UniGame step: the mean cost per step
over one cycle of the configured schedule (adversary turns every ``schedule.mine_every`` steps, a
clean (+) buffer understander update every step). The un-amortised adversary turn is printed too.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from rich.table import Table

from ..console import out
from ..game.adversary import adversary_turn_, encode, head, perturber_passes_, refined
from ..game.players import Players, StepMetrics
from ..game.step import game_step, understander_turn_
from ..interfaces import Backend, HardSamples, StepPlan, VQABatch
from . import build

log = logging.getLogger(__name__)

QUESTION = "what is the color of the object on the left side of the picture?"
ANSWER = "red"


@dataclass
class Timing:
    name: str
    seconds: float
    peak_gib: float


class Timer:
    """Collect blocks, then time them round-robin (one repetition of each per round), so that a
    slow spell on a shared machine hits every block alike and the ratios stay honest."""

    def __init__(self, device: torch.device, steps: int) -> None:
        self.device, self.steps = device, steps
        self.blocks: list[tuple[str, Callable[[], object], int]] = []

    def __call__(self, name: str, fn: Callable[[], object], per: int = 1) -> None:
        self.blocks.append((name, fn, per))

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def run(self) -> list[Timing]:
        times: dict[str, list[float]] = {name: [] for name, _, _ in self.blocks}
        peaks: dict[str, float] = {}
        for name, fn, _ in self.blocks:  # warm-up and peak memory, block by block
            if self.device.type == "cuda":
                self._sync()
                torch.cuda.reset_peak_memory_stats(self.device)
            fn()
            self._sync()
            peaks[name] = (
                torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else float("nan")
            )
        for _ in range(self.steps):
            for name, fn, per in self.blocks:
                self._sync()
                t0 = time.perf_counter()
                fn()
                self._sync()
                times[name].append((time.perf_counter() - t0) / per)
        return [Timing(name, statistics.median(times[name]), peaks[name]) for name, _, _ in self.blocks]


def run_bench(cfg: DictConfig, steps: int = 5, random_weights: bool = False) -> list[Timing]:
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
    rows = timed.run()
    _print(rows, cfg, backend, where)
    return rows


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


def _print(rows: list[Timing], cfg: DictConfig, backend: Backend, where: build.Placement) -> None:
    sft = rows[0].seconds
    device = (
        torch.cuda.get_device_name(where.device)
        if where.device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)"
    )
    weights = f" [{backend.stand_in}]" if backend.stand_in else " (random weights)" if backend.random_weights else ""
    name = f"{cfg.model or cfg.backend.name}{weights}"
    table = Table("block", "median s", "x SFT", "peak GiB", title=f"unigame bench: {name} | "
                  f"batch {cfg.train.batch_size} | {where.dtype} | {device}")
    for r in rows:
        table.add_row(
            r.name,
            f"{r.seconds:.4f}",
            f"{r.seconds / sft:.2f}",
            "-" if r.peak_gib != r.peak_gib else f"{r.peak_gib:.1f}",
        )
    out.print(table)
    out.print(f"UniGame / SFT step cost ratio: {rows[-1].seconds / sft:.2f} (target <= 1.5)", highlight=False)
