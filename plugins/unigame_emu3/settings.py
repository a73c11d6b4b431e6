"""Configuration of the Emu3 backend (a flat, OmegaConf-structured dataclass; no torch import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Optional

from unigame_core.errors import ConfigError
from unigame_core.hf import HFSettings

EMU3_CHAT = "BAAI/Emu3-Chat-hf"
EMU3_GEN = "BAAI/Emu3-Gen-hf"

# The negative prompt of Emu3's own text-to-image recipe (classifier-free guidance).
NEGATIVE_PROMPT = (
    "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer digits, cropped, worst quality, "
    "low quality, normal quality, jpeg artifacts, signature, watermark, username, blurry."
)


@dataclass
class Emu3Settings(HFSettings):
    """Everything the Emu3 backend reads: the shared Hugging Face settings (``HFSettings``: checkpoint, hub,
    random weights, attention, checkpointing, answer length) and Emu3's own. ``checkpoint`` is a hub id or a
    local folder in the same format."""

    label: ClassVar[str] = "Emu3"
    default_gate: ClassVar[Optional[str]] = "clip"  # the paper's gate (open_clip ViT-B-16)

    checkpoint: str = EMU3_CHAT
    movq_checkpointing: bool = False  # recompute the MoVQ's 2-D stacks in the adversary's backward (memory)
    image_size: int = 0  # side S of the square pixels; 0 = the smallest square the processor keeps (512 for Emu3)
    straight_through: bool = False  # decoder snaps z + delta to the nearest codes (identity gradient)
    soft_topk: int = 0  # straight-through soft assignment over the k nearest codes; 0 = the full codebook
    soft_temperature: float = 1.0  # softmax temperature, in units of the codebook's median nearest-neighbour distance^2
    quantizer_chunk: int = 4096  # tokens per block of the nearest-code search (bounds the (tokens x codebook) matrix)
    system_prompt: Optional[str] = "You are a helpful assistant."  # None = no system turn
    text_to_image: bool = False  # the checkpoint generates images (Emu3-Gen): enables generate_images
    negative_prompt: str = NEGATIVE_PROMPT  # classifier-free guidance's unconditional prompt (text-to-image)

    def check(self) -> None:
        if self.soft_topk == 1 or self.soft_topk < 0 or self.soft_temperature <= 0:
            raise ConfigError(f"Invalid soft assignment: backend.soft_topk={self.soft_topk}, "
                              f"backend.soft_temperature={self.soft_temperature}.",
                              "soft_topk is 0 (the whole codebook) or at least 2 (one code has no gradient); "
                              "soft_temperature is positive.")
