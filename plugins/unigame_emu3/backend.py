"""``Emu3Backend``: Emu3 on transformers' native ``Emu3ForConditionalGeneration`` / ``Emu3VQVAE``.

One MoVQ tokenizer serves both branches: its encoder + codebook give the shared tokens, its decoder
draws them, and the LLM reads the same codes as discrete ``<|visual token ...|>`` ids. The adversary's
gradient therefore crosses a quantisation on the way back into the LLM (straight-through soft
assignment, see ``quantizer.py``). LoRA goes on the LLM's projections only; the MoVQ (BatchNorm
included) stays frozen and in eval mode whatever mode the model is put in.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from unigame_core.errors import CapabilityError, ConfigError
from unigame_core.hf import HFBackend, checkpoint_activations
from unigame_core.interfaces import checkpoint_guidance

from .loading import build_random, load_model, load_processor
from .movq import MoVQ, pin_eval
from .preprocess import Emu3ImageTransform, PixelNormalizer
from .prompt import ChatLayout, PromptBuilder
from .quantizer import Codebook, CodebookStats, SoftQuantizer
from .roles import Emu3Decoder, Emu3Encoder, Emu3Understander
from .settings import Emu3Settings

log = logging.getLogger(__name__)

#: peft ``target_modules`` regex (full match on module names): the LLM's attention projections. The
#: MoVQ's own attention blocks (``model.vqmodel...q_proj``) never match: they are not under ``text_model``.
LORA_ATTENTION = r".*\btext_model\.layers\.\d+\.self_attn\.(q|k|v|o)_proj"
LORA_ATTENTION_MLP = r".*\btext_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"


class Emu3Backend(HFBackend):
    """Emu3 weights plus their roles. Every base parameter is frozen; the model is in eval mode."""

    settings_class = Emu3Settings
    lora_attention, lora_attention_mlp = LORA_ATTENTION, LORA_ATTENTION_MLP

    settings: Emu3Settings

    # ---- construction (the hooks HFBackend's lifecycle calls) ---------------------------------------
    def load(self) -> Any:
        if self.settings.random_weights:
            model, self.processor = build_random(self.settings, self.device, self.dtype)
            self._image_size = self._choose_size(self.processor.image_processor)
            return model
        self.processor = load_processor(self.settings)
        self._image_size = self._choose_size(self.processor.image_processor)  # fails before the weights load
        return load_model(self.settings, self.device, self.dtype)

    def prepare(self) -> None:
        pin_eval(self._model.model.vqmodel)  # BatchNorm3d of the temporal blocks: running statistics, always
        self.processor.tokenizer.padding_side = "left"  # batched generation

    def build_roles(self) -> None:
        model, s = self._model, self.settings
        image = self.processor.image_processor
        self.normalize = PixelNormalizer(image.image_mean, image.image_std).to(self.device)
        self.background = tuple(int(m * 255) for m in image.image_mean)
        self.resample = int(image.resample)
        vq = model.model.vqmodel
        movq = MoVQ(vq, self.normalize, checkpointing=s.movq_checkpointing)
        if movq.factor != self.processor.downsample_ratio:
            raise ConfigError(f"The MoVQ downsamples by {movq.factor} but the processor lays images out for "
                              f"{self.processor.downsample_ratio}.", "The checkpoint's config and processor disagree.")
        grid = movq.grid(self._image_size)
        codebook = Codebook(vq.quantize.embedding, s.quantizer_chunk)
        token_ids = self._visual_token_ids(int(vq.config.codebook_size))
        quantizer = SoftQuantizer(codebook, token_ids, model.get_input_embeddings(), topk=s.soft_topk,
                                  temperature=s.soft_temperature)
        self.codebook_stats: CodebookStats = quantizer.stats
        stats = self.codebook_stats
        log.info("MoVQ codebook: %d codes, |z| median %.4g (10th percentile %.4g), median nearest-code distance "
                 "%.4g: a relative eps moves a typical token eps / %.3g code spacings", stats.size,
                 stats.median_norm, stats.low_norm, stats.median_spacing, stats.spacing_over_norm)
        prompts = PromptBuilder(self.processor, ChatLayout.from_processor(self.processor, s.system_prompt),
                                self._image_size, context=model.config.text_config.max_position_embeddings)
        eol = model.vocabulary_mapping.eol_token_id
        self._encoder = Emu3Encoder(movq, codebook, grid)
        self._decoder = Emu3Decoder(movq, grid, codebook, s.straight_through)
        self._understander = Emu3Understander(model, movq, quantizer, prompts, eol, s.max_new_tokens)

    def _choose_size(self, image: Any) -> int:
        """``settings.image_size``, or the smallest square side the processor keeps (a multiple of 8)."""
        factor = int(image.spatial_factor)
        size = self.settings.image_size or factor * math.ceil(math.sqrt(image.min_pixels) / factor)
        if size <= 0 or size % factor:
            raise ConfigError(f"Invalid configuration key 'backend.image_size': {size} is not a positive multiple of "
                              f"{factor} (the MoVQ's spatial factor).")
        if not image.min_pixels <= size * size <= image.max_pixels:
            log.warning("image_size %d is outside the processor's range (%d..%d pixels): the checkpoint was "
                        "trained on other sizes", size, image.min_pixels, image.max_pixels)
        return int(size)

    def _visual_token_ids(self, codebook_size: int) -> Tensor:
        """``(K,)`` long: code k -> the id of ``<|visual token k|>`` in the LLM vocabulary."""
        mapping = self._model.vocabulary_mapping.img2bpe_mapping_tensor.long()
        if mapping.shape[0] != codebook_size:
            raise ConfigError(f"The tokenizer maps {mapping.shape[0]} visual tokens but the MoVQ has "
                              f"{codebook_size} codes.")
        return mapping.to(self.device)

    def enable_grad_checkpointing(self) -> None:
        """Non-reentrant activation checkpointing on the LLM.

        transformers checkpoints a layer only in train mode, so the LLM is put in train mode with its
        dropout (attention weights and residual branches) set to 0: the game compares CE values across
        passes and needs them deterministic.
        """
        text = self._model.model.text_model
        checkpoint_activations(text)
        for module in text.modules():  # Emu3 drops out attention weights and each residual branch
            if isinstance(module, nn.Dropout):
                module.p = 0.0
            if hasattr(module, "attention_dropout"):
                module.attention_dropout = 0.0

    # ---- Backend contract (model, roles, image_size, lora_target_modules: HFBackend) --------------------
    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"text_to_image"}) if self.settings.text_to_image else frozenset()

    def image_transform(self) -> Emu3ImageTransform:
        return Emu3ImageTransform(self._image_size, self.background, self.resample)

    def generate_images(self, prompts: Sequence[str], *, guidance_scale: float | None = None, seed: int = 0) -> Tensor:
        """Text-to-image with the generation branch (Emu3-Gen) -> ``(B, 3, S, S)`` in ``[0, 1]``, float32.

        ``guidance_scale=None`` uses the checkpoint's ``generation_config.guidance_scale``, else 5."""
        if "text_to_image" not in self.capabilities:
            raise CapabilityError(
                f"The Emu3 checkpoint '{self.settings.checkpoint}' is not set up for text-to-image.",
                "Use --model emu3-gen, or set backend.text_to_image=true for an Emu3-Gen checkpoint.")
        from .text_to_image import generate_images

        if guidance_scale is None:
            guidance_scale = checkpoint_guidance(self._model)
        return generate_images(self._model, self.processor, self._decoder, prompts, size=self._image_size,
                               guidance_scale=guidance_scale, seed=seed, negative_prompt=self.settings.negative_prompt)
