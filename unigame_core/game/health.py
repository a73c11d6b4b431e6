"""Game health: is the min-max game still being played, or has it quietly degenerated?

A UniGame run can look fine (losses fall) while the game is broken: the perturber pinned at the eps
bound, the gate rejecting most of what it makes, the buffer no longer admitting anything while the
understander keeps drawing the same stale samples, or "hard" samples that are only as hard as decoding
alone makes them. These figures say which, per logging window (``train.log_every`` steps):

* ``ce_adv`` vs ``ce_round_trip``: the understander's CE on the adversary's decode and on the delta = 0
  decode of the same images. The adversary earns its keep only when the first is above the second.
* ``gate_pass``: the share of the adversary's samples the semantic gate keeps.
* ``candidates`` / ``admitted`` / ``drawn``: samples offered to the buffer, admitted, and drawn from it
  by the understander, in the window and in total (``*_total``).
* ``delta_saturation``: the share of delta's tokens at (>= 95 % of) the eps bound; ``tokens_changed``:
  for VQ tokenizers, the share of codebook ids the perturbation changes.
* ``delta_norm`` / ``delta_bound``: the final delta's mean per-token norm and its bound eps * ||z_i||.

The window's means over the adversary's turns (what the checks judge) go into the row as ``<figure>_window``,
with ``turns``, the number of turns in the window; the plain figures are the adversary's latest turn.

A window fails a check -> ``health_ok: false`` with ``health_warnings`` in its metrics.jsonl row, and one
warning naming every failed check, unless the last warning named the same checks: a game that stays weak for
2,000 steps warns once, not 200 times (metrics.jsonl and the report still flag every window). The counters
travel in checkpoints, so a resumed run logs the same rows as an uninterrupted one. ``rescore_buffer``
re-measures the buffer's hardness.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor

from ..distributed import from_main
from ..interfaces import Backend
from . import couplings
from .players import Players, StepMetrics
from .settings import HealthConfig

log = logging.getLogger(__name__)

AT_BOUND = 0.95  # a token's delta counts as saturated at this share of its bound eps * ||z_i||
RESCORE_CHUNK = 32


def delta_saturation(delta: Tensor, clean: Tensor, eps: float) -> float:
    """The share of tokens whose ||delta_i|| is at least 95 % of their bound eps * ||z_i|| (NaN at eps 0)."""
    if eps <= 0:
        return math.nan
    bound = eps * clean.detach().float().norm(dim=-1)
    ratio = delta.detach().float().norm(dim=-1) / bound.clamp_min(1e-12)
    return float((ratio >= AT_BOUND).float().mean())


def tokens_changed(backend: Backend, clean: Tensor, adv: Tensor) -> float:
    """The share of codebook ids the perturbation changes (NaN for a tokenizer without ids)."""
    before = backend.encoder.token_ids(clean.detach())
    if before is None:
        return math.nan
    after = backend.encoder.token_ids(adv.detach())
    assert after is not None
    return float((before != after).float().mean())


def measure_turn(backend: Backend, coupling: couplings.Coupling, learned_delta: Tensor | None,
                 view: couplings.AdversarialView, eps: float, m: StepMetrics) -> None:
    """Fill a step's saturation figures: how much of the PERTURBER's delta (``learned_delta``; None when nothing
    is learned) sits at the bound, and for shared tokens the share of codebook ids the final sample changed."""
    if learned_delta is not None:
        m.delta_saturation = delta_saturation(learned_delta, view.clean_tokens, eps)
    if isinstance(coupling, couplings.DecoderCoupling):  # shared tokens: codebook ids for VQ tokenizers
        m.tokens_changed = tokens_changed(backend, view.clean_tokens, view.adv_tokens)


@torch.no_grad()
def rescore_buffer(p: Players) -> int:
    """Hardness of every buffered sample against the current understander (CE now minus its reference);
    returns how many were re-scored. Every rank holds the same buffer, so every rank takes the one collective
    here, and all keep rank 0's numbers: each rank's own would differ under LoRA dropout, and the buffers with
    them."""
    stored = p.buffer.stored()
    if stored is None:
        return 0
    pixels = p.settings.coupling.stores_pixels
    device = next(iter(p.lora_params)).device if p.lora_params else stored.images.device
    ce = []
    for start in range(0, len(stored), RESCORE_CHUNK):
        images = stored.images[start:start + RESCORE_CHUNK].to(device)
        embeds = p.backend.understander.embed_images(images) if pixels else images
        ce.append(p.backend.understander.answer_loss(
            embeds, stored.questions[start:start + RESCORE_CHUNK], stored.answers[start:start + RESCORE_CHUNK],
        ).float())
    p.buffer.rescore(from_main(torch.cat(ce)).cpu())
    return len(stored)


@dataclass
class _Window:
    """Sums over the steps of one logging window (means are taken over the adversary's turns)."""

    steps: int = 0
    turns: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    candidates: int = 0
    admitted: int = 0
    drawn: int = 0

    def add(self, key: str, value: float) -> None:
        if value == value:  # NaN: not measured this turn
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1

    def mean(self, key: str) -> float:
        return self.sums[key] / self.counts[key] if self.counts.get(key) else math.nan


MEANS = ("ce_adv", "ce_start", "ce_round_trip", "gate_pass", "delta_saturation", "tokens_changed", "delta_norm",
         "delta_bound")


class GameHealth:
    """Counts a run's game health step by step; ``close_window`` turns a logging window into metrics and
    warnings. One per run, on every rank (only rank zero logs)."""

    def __init__(self, cfg: HealthConfig) -> None:
        self.cfg = cfg
        self.window = _Window()
        self.totals = {"candidates": 0, "admitted": 0, "drawn": 0}
        self.warned: list[str] = []  # the checks the last warning named (not checkpointed: a resume warns anew)

    def observe(self, m: StepMetrics) -> None:
        w = self.window
        w.steps += 1
        if m.ce_adv == m.ce_adv:  # the adversary played this step
            w.turns += 1
            for key in MEANS:
                w.add(key, getattr(m, key))
        counts = {"candidates": m.candidates, "admitted": m.mined, "drawn": m.drawn}
        for key, n in counts.items():
            setattr(w, key, getattr(w, key) + n)
            self.totals[key] += n

    def problems(self) -> list[tuple[str, str]]:
        """The checks this window fails, as (name, sentence) (none without an adversary turn)."""
        w, c = self.window, self.cfg
        if not w.turns:
            return []
        found = []
        gate = w.mean("gate_pass")
        if gate < c.min_gate_pass:
            found.append(("gate_pass", f"the gate passed {gate:.0%} (< {c.min_gate_pass:.0%})"))
        if w.admitted == 0 and w.drawn > 0:
            found.append(("buffer_frozen", f"the buffer admitted none of {w.candidates} candidates while "
                                           f"{w.drawn} samples were drawn from it"))
        saturation = w.mean("delta_saturation")
        if saturation >= c.max_saturation:
            found.append(("delta_saturated", f"{saturation:.0%} of delta's tokens sit at the eps bound "
                                             f"(>= {c.max_saturation:.0%}): raise game.lambda_reg or lower eps"))
        ce_adv, ce_rt = w.mean("ce_adv"), w.mean("ce_round_trip")
        if ce_adv - ce_rt <= c.min_ce_gain:
            found.append(("adversary_weak", f"the adversary's CE {ce_adv:.3f} is not above the round-trip CE "
                                            f"{ce_rt:.3f}"))
        return found

    def close_window(self, step: int) -> dict[str, Any]:
        """This window's figures for the metrics row (then a new window starts); warns if it failed checks other
        than those the last warning named."""
        w = self.window
        failed = self.problems()
        names = [name for name, _ in failed]
        row: dict[str, Any] = {
            "candidates": w.candidates, "admitted": w.admitted, "drawn": w.drawn,
            **{f"{key}_total": value for key, value in self.totals.items()},
            "turns": w.turns, **{f"{key}_window": w.mean(key) for key in MEANS},  # what the verdict judged
            "health_ok": (not failed) if w.turns else None,
            "health_warnings": names,
        }
        message = "; ".join(text for _, text in failed)
        if failed and names != self.warned:
            log.warning("game health, steps %d-%d: %s (later windows failing the same checks are not logged again; "
                        "metrics.jsonl flags each)", step - w.steps + 1, step, message)
            self.warned = names
        elif failed:
            log.debug("game health, steps %d-%d: %s", step - w.steps + 1, step, message)
        self.window = _Window()
        return row

    def brief(self) -> str:
        """This window so far, for the progress bar and the plain progress lines."""
        w = self.window
        rt, sat = w.mean("ce_round_trip"), w.mean("delta_saturation")
        return (f"ce_rt={'-' if rt != rt else f'{rt:.3f}'} sat={'-' if sat != sat else f'{sat:.2f}'} "
                f"admitted={w.admitted}/{w.candidates} drawn={w.drawn}")

    def state_dict(self) -> dict[str, Any]:
        return {"window": asdict(self.window), "totals": dict(self.totals)}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if not state:  # a checkpoint from before health was tracked: start counting here
            return
        self.window = _Window(**{f.name: state["window"][f.name] for f in fields(_Window)})
        self.totals = dict(state["totals"])
