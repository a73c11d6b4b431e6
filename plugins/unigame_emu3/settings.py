"""Configuration of the Emu3 backend (a flat, OmegaConf-structured dataclass; no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

EMU3_CHAT = "BAAI/Emu3-Chat-hf"
EMU3_GEN = "BAAI/Emu3-Gen-hf"

# The negative prompt of Emu3's own text-to-image recipe (classifier-free guidance).
NEGATIVE_PROMPT = (
    "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer digits, cropped, worst quality, "
    "low quality, normal quality, jpeg artifacts, signature, watermark, username, blurry."
)


@dataclass
class Emu3Settings:
    """Everything the Emu3 backend reads. ``checkpoint`` is a hub id or a local folder in the same format."""

    checkpoint: str = EMU3_CHAT
    revision: Optional[str] = None  # hub revision (branch, tag or commit)
    cache_dir: Optional[str] = None  # hub cache folder (default: the HF cache)
    local_files_only: bool = False  # never touch the network (also set by HF_HUB_OFFLINE=1)
    random_weights: bool = False  # build the architecture with random weights (bench; no weight download)
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2 (the LLM)
    grad_checkpointing: bool = False  # non-reentrant activation checkpointing of the LLM
    movq_checkpointing: bool = False  # recompute the MoVQ's 2-D stacks in the adversary's backward (memory)
    image_size: int = 0  # side S of the square pixels; 0 = the smallest square the processor keeps (512 for Emu3)
    straight_through: bool = False  # decoder snaps z + delta to the nearest codes (identity gradient)
    soft_topk: int = 0  # straight-through soft assignment over the k nearest codes; 0 = the full codebook
    soft_temperature: float = 1.0  # softmax temperature, in units of the codebook's median nearest-neighbour distance^2
    quantizer_chunk: int = 4096  # tokens per block of the nearest-code search (bounds the (tokens x codebook) matrix)
    system_prompt: Optional[str] = "You are a helpful assistant."  # None = no system turn
    max_new_tokens: int = 16  # answer length for generation
    text_to_image: bool = False  # the checkpoint generates images (Emu3-Gen): enables generate_images
    negative_prompt: str = NEGATIVE_PROMPT  # classifier-free guidance's unconditional prompt (text-to-image)
