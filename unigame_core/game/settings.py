"""Config dataclasses of the built-in game components (light: no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from ..config_checks import Check, at_least_one, bounded, fraction, non_negative


@dataclass
class HardBufferConfig:
    capacity: int = bounded(50, at_least_one)
    tau: float = 0.0  # absolute hardness threshold (tau_mode=absolute)
    tau_mode: Literal["quantile", "absolute"] = "quantile"
    quantile: float = bounded(0.5, fraction)  # running quantile of recent candidates' hardness (tau_mode=quantile)
    history: int = bounded(512, at_least_one)  # how many recent hardness values the running quantile looks at
    # priority sampling: p_i ~ exp(H_i / T); 0 = uniform
    temperature: float = bounded(1.0, Check(lambda v: v >= 0, "non-negative (0 = uniform)"))
    storage: Literal["float16", "float32", "uint8"] = "float16"  # dtype of stored images
    # at capacity: hardest (replace the easiest if harder) | fifo (the oldest)
    policy: Literal["hardest", "fifo"] = "hardest"


@dataclass
class AlternatingConfig:
    adversary_updates: int = bounded(1, non_negative)  # perturber passes per step
    mine_every: int = bounded(2, at_least_one)  # the adversary plays (and mines) every N steps
    eps_warmup: int = bounded(0, non_negative)  # steps over which eps grows linearly from 0 to eps_max
    beta_warmup: int = bounded(0, non_negative)  # steps over which beta grows linearly from 0 to game.beta
    start_step: int = bounded(0, non_negative)  # steps of plain SFT before the adversary starts


@dataclass
class CosineGateConfig:
    # keep samples whose token-space cosine is at least this; unset: cosine_threshold(game.eps_max)
    threshold: Optional[float] = bounded(None, Check(lambda v: -1 <= v <= 1, "in [-1, 1]"))


@dataclass
class HealthConfig:
    """When a logging window's game counts as unhealthy (a warning, and ``health_ok: false`` in metrics.jsonl)."""

    min_gate_pass: float = bounded(0.3, fraction)  # the gate keeps fewer than this share of the adversary's samples
    max_saturation: float = bounded(0.9, fraction)  # this share (or more) of delta's tokens sit at the eps bound
    min_ce_gain: float = 0.0  # the adversary's CE must beat the round-trip (delta = 0) CE by more than this


def cosine_threshold(eps: float) -> float:
    """The token-cosine gate's default threshold for a relative bound ``eps``: the worst-case cosine of a
    delta at HALF the bound, sqrt(1 - (eps/2)^2). A delta within half the bound passes whatever its direction;
    one at the bound passes only if it leaves the token's direction nearly alone (an orthogonal one has
    cosine 1/sqrt(1 + eps^2), below the threshold for every eps < 1.7). A fixed 0.9 can never fire at
    eps = 0.3: no delta there has a cosine under sqrt(1 - 0.3^2) = 0.954."""
    half = min(eps / 2.0, 1.0)
    return max(-1.0, min((1.0 - half * half) ** 0.5, 1.0 - 1e-6))
