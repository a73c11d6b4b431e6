"""Options of the attack suites: flat dataclasses, checked like any suite's (no heavy imports).

``source`` names the suite whose questions, images and scorer are used (``--suite attack-pgd:vqav2`` sets
it); ``path`` is that suite's data folder and ``source_options`` its own options. ``eps`` is a list of
radii, each written as a number or a fraction (``"2/255"``); each radius is one attack pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List


@dataclass
class PixelAttackOptions:
    source: str = "shapes"  # the VQA suite attacked: vqav2, pope, shapes (or --suite attack-pgd:SOURCE)
    path: str = ""  # the source suite's data folder (default <data-root>/<source>)
    source_options: Dict[str, Any] = field(default_factory=dict)  # the source suite's options, e.g. {samples: 64}
    eps: List[str] = field(default_factory=lambda: ["2/255", "4/255"])  # L_inf radii on [0, 1] pixels
    steps: int = 10  # APGD iterations (one forward + backward pass each) per restart
    restarts: int = 1  # APGD runs per image: the first from the clean image, the others from a random point
    attack_batch: int = 8  # images attacked at once (backward passes: smaller than --batch-size)
    seed: int = 0  # random restarts
    attack_all: bool = False  # also attack questions already answered wrong (AutoAttack skips them: same scores)


@dataclass
class DecoderAttackOptions:
    source: str = "shapes"
    path: str = ""
    source_options: Dict[str, Any] = field(default_factory=dict)
    eps: List[str] = field(default_factory=lambda: ["0.02", "0.1"])  # ||delta_i|| <= eps * ||z_i|| per shared token
    steps: int = 10
    restarts: int = 1
    attack_batch: int = 8
    seed: int = 0
    attack_all: bool = False
