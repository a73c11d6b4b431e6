"""Configuration of the Janus backend (a flat, OmegaConf-structured dataclass; no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

JANUS_PRO_1B = "deepseek-community/Janus-Pro-1B"
JANUS_PRO_7B = "deepseek-community/Janus-Pro-7B"


@dataclass
class JanusSettings:
    """Everything the Janus backend reads. ``checkpoint`` is a hub id or a local folder."""

    checkpoint: str = JANUS_PRO_7B
    revision: Optional[str] = None  # hub revision (branch, tag or commit)
    cache_dir: Optional[str] = None  # hub cache folder (default: the HF cache)
    local_files_only: bool = False  # never touch the network (also set by HF_HUB_OFFLINE=1)
    random_weights: bool = False  # build the architecture with random weights (bench; no download)
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2
    grad_checkpointing: bool = False  # non-reentrant activation checkpointing of the LLM
    straight_through: bool = False  # decoder re-quantises z to codebook vectors (identity gradient)
    system_prompt: Optional[str] = None  # None = the checkpoint processor's default
    max_new_tokens: int = 16  # answer length for generation
