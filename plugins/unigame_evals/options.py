"""Options of each suite: flat dataclasses, checked like any plugin config (no heavy imports).

``path`` overrides where a suite's data lives (default: ``<data-root>/<suite>``); on the command
line it is given as ``--suite vqav2=/data/vqa``. See docs/evaluation.md for each layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class VQAv2Options:
    path: str = ""  # folder in the official VQAv2 layout (default <data-root>/vqav2)
    split: str = "val2014"  # the COCO split named in the file names
    max_new_tokens: int = 10


@dataclass
class POPEOptions:
    path: str = ""  # coco_pope_<category>.json + val2014/, or the HF parquet data/test-*.parquet (<data-root>/pope)
    categories: list[str] = field(default_factory=lambda: ["random", "popular", "adversarial"])
    max_new_tokens: int = 10


@dataclass
class MMMUOptions:
    path: str = ""  # folder with <Subject>/<split>-*.parquet (default <data-root>/mmmu)
    split: str = "validation"
    max_new_tokens: int = 32


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
