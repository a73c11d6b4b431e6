"""``JanusBackend``: Janus / Janus-Pro on transformers' native ``JanusForConditionalGeneration``.

One model, three roles: the VQ-16 tokenizer is the shared-token encoder and (continuous) decoder, and
SigLIP + aligner + the Llama LLM is the understander. LoRA (attached by ``unigame_core.lora``) goes on
the LLM's projections only, as ``lora_target_modules`` says.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from unigame_core.errors import ConfigError
from unigame_core.hf import HFBackend, checkpoint_activations
from unigame_core.interfaces import checkpoint_guidance

from .loading import build_random, load_model, load_processor
from .preprocess import JanusImageTransform, PixelNormalizer
from .prompt import ChatLayout, PromptBuilder
from .roles import Codebook, JanusUnderstander, JanusVQDecoder, JanusVQEncoder, Precision
from .settings import JanusSettings

log = logging.getLogger(__name__)

#: peft ``target_modules`` regexes (full match on module names): the LLM's attention (and MLP)
#: projections. SigLIP's ``vision_model...self_attn.q_proj`` never matches: it is not under ``language_model``.
LORA_ATTENTION = r".*\blanguage_model\.layers\.\d+\.self_attn\.(q|k|v|o)_proj"
LORA_ATTENTION_MLP = r".*\blanguage_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"


class MergeGuidance:
    """Classifier-free guidance for any scale: ``(2B, V)`` scores -> ``uncond + scale * (cond - uncond)``."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        cond, uncond = scores.chunk(2)
        return uncond + self.scale * (cond - uncond)


class JanusBackend(HFBackend):
    """Janus-Pro weights plus their roles. Every base parameter is frozen; the model is in eval mode."""

    settings_class = JanusSettings
    lora_attention, lora_attention_mlp = LORA_ATTENTION, LORA_ATTENTION_MLP

    settings: JanusSettings

    # ---- construction (the hooks HFBackend's lifecycle calls) ---------------------------------------
    def load(self) -> Any:
        if self.settings.random_weights:
            model, self.processor = build_random(self.settings, self.device, self.dtype)
            return model
        self.processor = load_processor(self.settings)
        return load_model(self.settings, self.device, self.dtype)

    def build_roles(self) -> None:
        model, config, s = self._model, self._model.config, self.settings
        vision = config.vision_config
        image = self.processor.image_processor
        self._image_size = int(image.size["height"])
        if self._image_size != vision.image_size:
            raise ConfigError(
                f"Processor image size {self._image_size} does not match the model's {vision.image_size}."
            )
        self.tokenizer = self.processor.tokenizer
        self.normalize = PixelNormalizer(image.image_mean, image.image_std).to(self.device)
        self.background = tuple(image.background_color)
        self.min_size = int(image.min_size)
        precision = Precision(self.device, self.dtype)
        codebook = Codebook(model.model.vqmodel)
        grid = vision.image_size // vision.patch_size
        system = s.system_prompt if s.system_prompt is not None else self._default_system_prompt()
        prompts = PromptBuilder(self.tokenizer, ChatLayout.from_processor(self.processor), system,
                                vision.num_image_tokens, context=config.text_config.max_position_embeddings)
        self._encoder = JanusVQEncoder(model.model.vqmodel, codebook, self.normalize, precision, grid)
        self._decoder = JanusVQDecoder(model.model.vqmodel, codebook, precision, grid, s.straight_through)
        self._understander = JanusUnderstander(model, prompts, self.normalize, precision, s.max_new_tokens)

    def _default_system_prompt(self) -> str:
        from transformers.models.janus.processing_janus import DEFAULT_SYSTEM_PROMPT

        return DEFAULT_SYSTEM_PROMPT if self.processor.use_default_system_prompt else ""

    def enable_grad_checkpointing(self) -> None:
        """Non-reentrant activation checkpointing on the LLM (it only acts in train mode; the LLM has no dropout)."""
        checkpoint_activations(self._model.model.language_model)

    # ---- Backend contract (model, roles, image_size, lora_target_modules: HFBackend) --------------------
    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"text_to_image"})

    def image_transform(self) -> JanusImageTransform:
        return JanusImageTransform(self._image_size, self.background, self.min_size)

    @torch.no_grad()
    def generate_images(self, prompts: Sequence[str], *, guidance_scale: float | None = None, seed: int = 0) -> Tensor:
        """Batched text-to-image (CFG, sampling seeded by ``seed``) -> ``(B, 3, S, S)`` in [0, 1], float32.

        ``guidance_scale=None`` uses the checkpoint's own (``generation_config.guidance_scale``; 5 for Janus-Pro)."""
        from transformers import LogitsProcessorList

        if guidance_scale is None:
            guidance_scale = checkpoint_guidance(self._model)

        texts = [self.processor.apply_chat_template([{"role": "user", "content": [{"type": "text", "text": p}]}],
                                                    add_generation_prompt=True) for p in prompts]
        batch = self.processor(text=texts, generation_mode="image", padding=True, return_tensors="pt").to(self.device)
        # transformers' Janus always runs the doubled (conditional, unconditional) batch but merges the two
        # halves only for a scale above 1; at or below 1 the merge is done here (1 = conditional logits only).
        guidance = {"guidance_scale": guidance_scale} if guidance_scale > 1 else {
            "guidance_scale": 1.0, "logits_processor": LogitsProcessorList([MergeGuidance(guidance_scale)])}
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            tokens = self._model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                          generation_mode="image", do_sample=True, **guidance)
        pixels = self._model.decode_image_tokens(tokens).permute(0, 3, 1, 2)
        return ((pixels.float() + 1) / 2).clamp(0, 1)
