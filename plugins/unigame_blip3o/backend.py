"""``Blip3oBackend``: BLIP3-o on native classes only (transformers' Qwen2.5-VL, diffusers' Lumina-Next DiT,
SDXL-layout UNet, AutoencoderKL and EulerDiscreteScheduler) plus our own small EVA-CLIP tower.

Roles: the EVA-CLIP features the generator writes are the shared tokens, the diffusion decoder draws
them (exact sampling forward, one-step surrogate gradient backward: ``decoder.py``), and Qwen2.5-VL is
the understander. ``model`` is the Qwen2.5-VL module only: LoRA goes on its LLM's attention projections,
while EVA, DiT, UNet and VAE are held outside it, frozen and in eval mode, and never saved with adapters.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from unigame_core.errors import CapabilityError, ConfigError
from unigame_core.hf import HFBackend, check_fits, checkpoint_activations
from unigame_core.interfaces import checkpoint_guidance
from unigame_core.pixels import PixelNormalizer

from . import loading
from .decoder import DiffusionDecoder
from .dit import QUERIES_KEY, GenerationHead, config_from_weights
from .eva import CLIP_MEAN, CLIP_STD
from .preprocess import SquareTransform
from .prompt import PromptBuilder
from .roles import Blip3oDecoder, Blip3oEncoder, Blip3oUnderstander
from .settings import Blip3oSettings

log = logging.getLogger(__name__)

#: peft ``target_modules`` (full match): the LLM's attention projections. Anchored on ``language_model.layers``
#: because the Qwen2.5-VL vision tower's MLP uses the same ``gate/up/down_proj`` names.
DEFAULT_SIZE = 448
LORA_ATTENTION = r".*\blanguage_model\.layers\.\d+\.self_attn\.(q|k|v|o)_proj"
LORA_ATTENTION_MLP = r".*\blanguage_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"


class Blip3oBackend(HFBackend):
    """BLIP3-o weights plus their roles. Every base parameter is frozen and in eval mode."""

    settings_class = Blip3oSettings
    lora_attention, lora_attention_mlp = LORA_ATTENTION, LORA_ATTENTION_MLP

    settings: Blip3oSettings

    # ---- construction (the hooks HFBackend's lifecycle calls) ---------------------------------------
    def load(self) -> Any:
        """The Qwen2.5-VL understander (returned: LoRA's model), then the EVA encoder, the diffusion decoder's
        parts and, for text-to-image, the generation head; the sizes are chosen once the config is read."""
        s: Blip3oSettings = self.settings
        random = s.random_weights
        self._scratch = None  # the temporary folder of a tiny stand-in or of a shipped architecture, if any
        if s.tiny:
            s, self._scratch = loading.tiny_stand_in(s)
        elif random and not loading.Path(s.checkpoint).is_dir():
            s, self._scratch = loading.shipped_architecture(s)
        self.settings = s
        config, self._raw = loading.read_config(s)
        self.processor = loading.load_processor(s)
        if random:
            from transformers import Qwen2_5_VLForConditionalGeneration

            check_fits(f"{s.label} '{self.requested}'", loading.random_parameters(s, config, self._raw), self.device,
                       self.dtype)
            with torch.device(self.device):
                model = Qwen2_5_VLForConditionalGeneration._from_config(
                    config, dtype=self.dtype, attn_implementation=s.attn_implementation)
        else:
            model = loading.load_understander(s, config, self.device, self.dtype)
        self.eva = loading.load_eva(s, self.device, self.dtype, random=random)
        self.unet, self.vae, self._scheduler = loading.load_decoder_parts(s, self.device, self.dtype, random=random)
        size, decoder_size = self._choose_sizes(config.vision_config)
        self.settings = s = dataclasses.replace(s, image_size=size, decoder_size=decoder_size)
        self._image_size = size
        self.head, self.latent_queries = self._generation_head(self._raw, config, random) if s.text_to_image \
            else (None, None)
        return model

    def frozen_parts(self) -> tuple[Any, ...]:
        return (self.eva, self.unet, self.vae, *([self.head] if self.head else []))

    def prepare(self) -> None:
        if self.settings.decoder_checkpointing:
            self.unet.enable_gradient_checkpointing()
            self.vae.enable_gradient_checkpointing()

    def describe(self) -> str:
        sizes = (sum(p.numel() for p in m.parameters()) / 1e6 for m in (self._model, self.eva, self.unet))
        return "LLM+ViT {:.1f} M, EVA {:.1f} M, UNet {:.1f} M parameters".format(*sizes)

    # ---- construction ------------------------------------------------------------------------------
    def _generation_head(self, raw: dict[str, Any], config: Any, random: bool) -> tuple[GenerationHead, Tensor]:
        base = loading.dit_config(raw, int(config.text_config.hidden_size))
        if random:
            head = GenerationHead(base)
            queries = torch.randn(1, base.grid**2, base.condition) * 0.02
        else:
            weights = loading.load_generation_weights(self.settings)
            head = GenerationHead(config_from_weights({k: tuple(v.shape) for k, v in weights.items()}, base))
            head.load_checkpoint_weights(weights)
            if QUERIES_KEY not in weights:
                raise ConfigError("The checkpoint has no 'model.latent_queries'.", "Is this a BLIP3-o checkpoint?")
            queries = weights[QUERIES_KEY]
        return head.to(self.device, self.dtype), queries.to(self.device, self.dtype)

    def build_roles(self) -> None:
        s, model, raw, scheduler = self.settings, self._model, self._raw, self._scheduler
        image = self.processor.image_processor
        self.normalize = PixelNormalizer(image.image_mean, image.image_std).to(self.device)
        self.background = tuple(int(round(m * 255)) for m in image.image_mean)
        eva_normalize = PixelNormalizer(CLIP_MEAN, CLIP_STD).to(self.device)
        tokens = int(raw.get("n_query", 64))
        self._encoder = Blip3oEncoder(self.eva, eva_normalize, tokens)
        diffusion = DiffusionDecoder(self.unet, self.vae, scheduler, self._encoder.grey_tokens(), size=s.decoder_size,
                                     out_size=s.image_size, steps=s.decoder_steps, guidance=s.decoder_guidance,
                                     grad=s.decoder_grad, surrogate_step=s.surrogate_step, last_k=s.last_k,
                                     seed=s.decoder_seed)
        self._decoder = Blip3oDecoder(diffusion)
        vision = model.config.vision_config
        grid = s.image_size // vision.patch_size
        context = model.config.text_config.max_position_embeddings
        prompts = PromptBuilder(self.processor.tokenizer, s.system_prompt, (grid // vision.spatial_merge_size) ** 2,
                                grid, model.model.get_rope_index, context=context)
        self._understander = Blip3oUnderstander(model, prompts, self.normalize, s.image_size, s.max_new_tokens)
        self._t2i = None
        if self.head is not None and self.latent_queries is not None:
            from .text_to_image import TextToImage

            self._t2i = TextToImage(model, self.processor.tokenizer, self.head, self.latent_queries, diffusion,
                                    steps=s.dit_steps, system_prompt=s.system_prompt)

    def _choose_sizes(self, vision: Any) -> tuple[int, int]:
        """``settings.image_size`` (else 448, BLIP3-o's EVA and Qwen size, when the processor keeps it) and
        ``settings.decoder_size`` (else the UNet's trained size: latent sample size x the VAE's factor)."""
        s, factor = self.settings, vision.patch_size * vision.spatial_merge_size
        edges = self.processor.image_processor.size
        low, high = int(edges["shortest_edge"]), int(edges["longest_edge"])
        size = s.image_size or (DEFAULT_SIZE if low <= DEFAULT_SIZE**2 <= high else factor * int(high**0.5 // factor))
        if size <= 0 or size % factor:
            raise ConfigError(f"Invalid configuration key 'backend.image_size': {size} is not a positive multiple "
                              f"of {factor} (patch x merge of the vision tower).")
        if not low <= size * size <= high:
            log.warning("image_size %d is outside the processor's range (%d..%d pixels)", size, low, high)
        vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        return size, s.decoder_size or int(self.unet.config.sample_size) * vae_factor

    def enable_grad_checkpointing(self) -> None:
        """Non-reentrant activation checkpointing on the LLM (it acts in train mode; Qwen2.5's LLM has no dropout)."""
        checkpoint_activations(self._model.model.language_model)

    # ---- Backend contract (model, roles, image_size, lora_target_modules: HFBackend) --------------------
    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"text_to_image"}) if self._t2i is not None else frozenset()

    def image_transform(self) -> SquareTransform:
        return SquareTransform(self.settings.image_size, self.background)

    def generate_images(self, prompts: Sequence[str], *, guidance_scale: float | None = None, seed: int = 0) -> Tensor:
        """Text-to-image -> ``(B, 3, S, S)`` in ``[0, 1]``, float32. ``guidance_scale`` is the DiT's CFG
        (``None``: the checkpoint's ``generation_config.guidance_scale``, else BLIP3-o's 3.0)."""
        if self._t2i is None:
            raise CapabilityError(f"The BLIP3-o backend for '{self.settings.checkpoint}' has text-to-image off.",
                                  "Set backend.text_to_image=true (the checkpoint needs its model.dit weights).")
        if guidance_scale is None:
            guidance_scale = checkpoint_guidance(self._model, default=3.0)
        return self._t2i(list(prompts), guidance=guidance_scale, seed=seed)
