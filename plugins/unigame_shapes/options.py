"""Options of the shapes world's suites: flat dataclasses, checked like any plugin config (no heavy imports).

The defaults ``unigame eval`` starts from are in ``configs/suites/shapes.yaml`` and ``consistency.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class ShapesOptions:
    seed: int = 0  # the shapes world's seed (the default model is trained on seed 0's train split)
    samples: int = 200  # questions per split
    # splits scored: test, shift, attack, nuisance (test scenes with decoder-like variations; opt-in)
    splits: list[str] = field(default_factory=lambda: ["test", "shift", "attack"])
    image_size: int = 32  # side of the rendered scenes (the default model's resolution)
    attack: str = "fixed"  # fixed: the shipped PGD split made once against the base model | adaptive: attack this model
    attack_eps: float = 0.02  # adaptive only: bound on ||delta|| per shared token, relative to the token's norm
    attack_steps: int = 5  # normalised-gradient ascent steps of the attack
    attack_batch: int = 8  # images attacked at once (a backward pass: smaller than --batch-size)
    max_new_tokens: int = 4


@dataclass
class ConsistencyOptions:
    seed: int = 0  # the shapes world's seed the captions come from
    split: str = "test"
    captions: int = 32  # images generated (each is asked several caption-derived questions)
    guidance_scale: Optional[float] = None  # None: the checkpoint's own (generation_config.guidance_scale)
    generation_batch: int = 8  # images generated at once (capped by --batch-size)
    max_new_tokens: int = 4
