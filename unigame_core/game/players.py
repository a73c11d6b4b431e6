"""The game's state, in three dataclasses: the fixed rules (``GameSettings``), the live players (``Players``)
and what one step reports (``StepMetrics``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..interfaces import Backend, Buffer, Validator
from .couplings import Coupling
from .perturber import Perturber


@dataclass(frozen=True)
class GameSettings:
    """The fixed rules of the game, from the config. Built once, by ``run.build.game_settings`` only."""

    coupling: Coupling
    eps_max: float
    lambda_reg: float  # penalty on ||delta||^2 in the adversary's objective (the authors' 1e-4)
    adversary_fraction: float
    buffer_fraction: float
    grad_clip: float
    lambda_adv: float = 80.0  # weight of the adversarial CE in the adversary's objective (the paper's "lambda 80")
    refine_steps: int = 0  # K per-sample projected ascent steps after the perturber (refine.py)
    refine_step: float = 0.5  # each step's size as a fraction of the bound eps * ||z_i||
    hardness_reference: str = "none"
    gate_reference: str = "clean"  # round_trip: the gate compares the adversarial decode with the delta = 0 decode


@dataclass
class Players:
    """The live state one step updates (weights, optimizers, buffer, random streams) under fixed ``settings``.
    Built by ``run.build.build_players``."""

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
    ce_adv: float = float("nan")  # the understander's CE on the adversary's final (refined) samples
    ce_start: float = float("nan")  # ... on the adversary's starting delta (the perturber's; before refinement)
    delta_norm: float = float("nan")  # mean per-token ||delta_i|| of the adversary's final sample
    delta_bound: float = float("nan")  # ... and of its bound eps * ||z_i|| (delta_norm / delta_bound: how far it went)
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
    delta_saturation: float = float("nan")  # of the PERTURBER's delta (refinement reaches the bound by design)
    tokens_changed: float = float("nan")
    candidates: int = 0  # samples past the gate offered to the buffer (every rank's)
    drawn: int = 0  # samples drawn from the buffer for the understander
    adv_images: Tensor | None = None  # last adversarial pixels (for sample grids)
