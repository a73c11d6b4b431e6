"""Config dataclasses of the built-in game components (light: no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..config_checks import choice


@dataclass
class HardBufferConfig:
    capacity: int = 50
    tau: float = 0.0  # absolute hardness threshold (tau_mode=absolute)
    tau_mode: str = choice("quantile", "absolute")
    quantile: float = 0.5  # running quantile of recent candidates' hardness (tau_mode=quantile)
    history: int = 512  # how many recent hardness values the running quantile looks at
    temperature: float = 1.0  # priority sampling: p_i ~ exp(H_i / T); 0 = uniform
    storage: str = choice("float16", "float32", "uint8")  # dtype of stored images
    policy: str = choice("hardest", "fifo")  # at capacity: hardest (replace the easiest if harder) | fifo (the oldest)


@dataclass
class AlternatingConfig:
    adversary_updates: int = 1  # perturber passes per step
    mine_every: int = 2  # the adversary plays (and mines) every N steps
    eps_warmup: int = 0  # steps over which eps grows linearly from 0 to eps_max
    beta_warmup: int = 0  # steps over which beta grows linearly from 0 to game.beta
    start_step: int = 0  # steps of plain SFT before the adversary starts


@dataclass
class CosineGateConfig:
    # keep samples whose token-space cosine is at least this; unset: cosine_threshold(game.eps_max)
    threshold: Optional[float] = None


@dataclass
class HealthConfig:
    """When a logging window's game counts as unhealthy (a warning, and ``health_ok: false`` in metrics.jsonl)."""

    min_gate_pass: float = 0.3  # the gate keeps fewer than this share of the adversary's samples
    max_saturation: float = 0.9  # this share (or more) of delta's tokens sit at the eps bound
    min_ce_gain: float = 0.0  # the adversary's CE must beat the round-trip (delta = 0) CE by more than this


def cosine_threshold(eps: float) -> float:
    """The token-cosine gate's default threshold for a relative bound ``eps``: the worst-case cosine of a
    delta at HALF the bound, sqrt(1 - (eps/2)^2). A delta within half the bound passes whatever its direction;
    one at the bound passes only if it leaves the token's direction nearly alone (an orthogonal one has
    cosine 1/sqrt(1 + eps^2), below the threshold for every eps < 1.7). A fixed 0.9 can never fire at
    eps = 0.3: no delta there has a cosine under sqrt(1 - 0.3^2) = 0.954."""
    half = min(eps / 2.0, 1.0)
    return max(-1.0, min((1.0 - half * half) ** 0.5, 1.0 - 1e-6))
