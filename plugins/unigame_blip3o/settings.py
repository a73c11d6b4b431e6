"""Configuration of the BLIP3-o backend (a flat, OmegaConf-structured dataclass; no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from unigame_core.errors import ConfigError
from unigame_core.hf import HFSettings

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
class Blip3oSettings(HFSettings):
    """Everything the BLIP3-o backend reads: the shared Hugging Face settings (``HFSettings``: checkpoint, hub,
    random weights, attention, checkpointing, answer length) and BLIP3-o's own. ``checkpoint`` is a hub id or
    a local folder in the same layout."""

    label: ClassVar[str] = "BLIP3-o"
    path_fields: ClassVar[tuple[str, ...]] = ("checkpoint", "cache_dir", "processor", "eva_checkpoint")
    default_gate: ClassVar[Optional[str]] = "clip"  # the paper's gate (open_clip ViT-B-16)

    checkpoint: str = BLIP3O_8B
    processor: Optional[str] = None  # processor source; None = the checkpoint, else the matching Qwen2.5-VL repo
    eva_checkpoint: Optional[str] = None  # EVA tower; None = the checkpoint's eva/ folder, else EVA_TOWER
    image_size: int = 0  # side S of the square pixels (multiple of patch x merge); 0 = 448 if the processor allows
    decoder_size: int = 0  # side the diffusion decoder draws before the resize to S; 0 = the UNet's (1024 for SDXL)
    decoder_steps: int = 50  # Euler steps of the decoder's sampler
    decoder_guidance: float = 3.0  # classifier-free guidance of the decoder (against EVA of a mean-grey image)
    decoder_grad: str = "one_step"  # one_step | last_k | exact: how the gradient crosses the sampler
    surrogate_step: int = 0  # one_step: the (early, high-noise) step whose x0-prediction carries the gradient
    last_k: int = 1  # last_k: how many final steps are differentiated
    decoder_seed: int = 0  # noise seed of the sampler (sample i of a batch always gets seed + i)
    dit_steps: int = 30  # flow-matching Euler steps of the DiT (text-to-image)
    decoder_checkpointing: bool = False  # recompute UNet/VAE activations in the adversary's backward (memory)
    system_prompt: Optional[str] = "You are a helpful assistant."  # None = no system turn
    text_to_image: bool = True  # LLM queries -> DiT -> decoder (the consistency suite)

    def check(self) -> None:
        if self.decoder_grad not in DECODER_GRADS:
            raise ConfigError(f"Invalid configuration key 'backend.decoder_grad': '{self.decoder_grad}'.",
                              f"Choose one of: {', '.join(DECODER_GRADS)}.")
        if self.decoder_steps < 1 or self.dit_steps < 1:
            raise ConfigError("Invalid configuration keys 'backend.decoder_steps' / 'backend.dit_steps': need >= 1.")
