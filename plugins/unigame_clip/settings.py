"""Config of the CLIP gate (no heavy imports)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional


@dataclass
class ClipGateConfig:
    model: str = "ViT-B-16"  # open_clip model name (or a custom config registered via model_config)
    pretrained: str = "laion2b_s34b_b88k"  # open_clip pretrained tag, or a local checkpoint file
    model_config: Optional[str] = None  # JSON file of a custom open_clip model config to register first
    mode: Literal["image", "text", "both"] = "image"  # image: cos(adv, clean); text: cos(adv, "q a"); both: both pass
    image_threshold: float = 0.8  # keep when cos(CLIP(x_adv), CLIP(x_clean)) >= this
    text_threshold: float = 0.2  # keep when cos(CLIP(x_adv), CLIP-text(q + a)) >= this
    cache_dir: Optional[str] = None
    random_weights: bool = False  # the model's architecture with random weights, nothing downloaded (set for you
    # when the backend's weights are random: `unigame bench --random-weights`); its scores mean nothing
