"""Configuration of the BLIP3-o backend (a flat, OmegaConf-structured dataclass; no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

BLIP3O_8B = "BLIP3o/BLIP3o-Model-8B"
BLIP3O_4B = "BLIP3o/BLIP3o-Model-4B"
#: the EVA-CLIP-E-14-plus tower BLIP3-o's generator was trained on (not inside the BLIP3-o checkpoints)
EVA_TOWER = "jiuhai/eva_clip_vision_tower"
#: where the official code loads the processor from (the BLIP3-o repos may ship none)
PROCESSORS = {BLIP3O_8B: "Qwen/Qwen2.5-VL-7B-Instruct", BLIP3O_4B: "Qwen/Qwen2.5-VL-3B-Instruct"}
#: the text-to-image instruction of BLIP3-o's own ``generate_image``
GENERATION_PROMPT = "Please generate image based on the following caption: {caption}"

DECODER_GRADS = ("one_step", "last_k", "exact")


@dataclass
class Blip3oSettings:
    """Everything the BLIP3-o backend reads. ``checkpoint`` is a hub id or a local folder in the same layout."""

    checkpoint: str = BLIP3O_8B
    revision: Optional[str] = None  # hub revision (branch, tag or commit)
    cache_dir: Optional[str] = None  # hub cache folder (default: the HF cache)
    local_files_only: bool = False  # never touch the network (also set by HF_HUB_OFFLINE=1)
    random_weights: bool = False  # build the architecture with random weights (bench; no weight download)
    processor: Optional[str] = None  # processor source; None = the checkpoint, else the matching Qwen2.5-VL repo
    eva_checkpoint: Optional[str] = None  # EVA tower; None = the checkpoint's eva/ folder, else EVA_TOWER
    attn_implementation: str = "sdpa"  # the LLM and its vision tower
    image_size: int = 0  # side S of the square pixels (multiple of patch x merge); 0 = 448 if the processor allows
    decoder_size: int = 0  # side the diffusion decoder draws before the resize to S; 0 = the UNet's (1024 for SDXL)
    decoder_steps: int = 50  # Euler steps of the decoder's sampler
    decoder_guidance: float = 3.0  # classifier-free guidance of the decoder (against EVA of a mean-grey image)
    decoder_grad: str = "one_step"  # one_step | last_k | exact: how the gradient crosses the sampler
    surrogate_step: int = 0  # one_step: the (early, high-noise) step whose x0-prediction carries the gradient
    last_k: int = 1  # last_k: how many final steps are differentiated
    decoder_seed: int = 0  # noise seed of the sampler (sample i of a batch always gets seed + i)
    dit_steps: int = 30  # flow-matching Euler steps of the DiT (text-to-image)
    grad_checkpointing: bool = False  # non-reentrant activation checkpointing of the LLM
    decoder_checkpointing: bool = False  # recompute UNet/VAE activations in the adversary's backward (memory)
    system_prompt: Optional[str] = "You are a helpful assistant."  # None = no system turn
    max_new_tokens: int = 16  # answer length for generation
    text_to_image: bool = True  # LLM queries -> DiT -> decoder (the consistency suite)
