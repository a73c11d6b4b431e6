"""Config dataclasses of the built-in game components (light: no torch import)."""

from __future__ import annotations

from dataclasses import dataclass

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
    threshold: float = 0.9  # keep samples whose token-space cosine is at least this
