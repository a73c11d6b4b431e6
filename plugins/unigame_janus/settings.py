"""Configuration of the Janus backend (a flat, OmegaConf-structured dataclass; no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from unigame_core.hf import HFSettings

JANUS_PRO_1B = "deepseek-community/Janus-Pro-1B"
JANUS_PRO_7B = "deepseek-community/Janus-Pro-7B"


@dataclass
class JanusSettings(HFSettings):
    """Everything the Janus backend reads: the shared Hugging Face settings (``HFSettings``: checkpoint,
    hub, random weights, attention, checkpointing, answer length) and Janus' own."""

    label: ClassVar[str] = "Janus"
    default_gate: ClassVar[Optional[str]] = "clip"  # the paper's gate (open_clip ViT-B-16)

    checkpoint: str = JANUS_PRO_7B
    straight_through: bool = False  # decoder re-quantises z to codebook vectors (identity gradient)
    system_prompt: Optional[str] = None  # None = the checkpoint processor's default
