"""The three roles BLIP3-o plays. Unlike Janus or Emu3 its branches share no tokenizer:

* encoder: pixels -> EVA-CLIP tower -> 2-D average pool -> ``z (B, 64, 1792)``, the features the DiT writes;
* decoder: ``z + delta`` -> the diffusion decoder (``decoder.py``) -> pixels at the understander's size;
* understander: pixels -> Qwen2.5-VL's vision tower (patchified on the device) -> the LLM, with the
  native 3-D M-RoPE positions; per-sample answer CE and native batched ``generate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from unigame_core.interfaces import Decoder, SharedTokenEncoder, Understander
from unigame_core.pixels import PixelNormalizer
from unigame_core.prompts import TokenBatch, answer_cross_entropy

from .decoder import DiffusionDecoder
from .eva import EvaVisionTower, pool_tokens
from .preprocess import patchify
from .prompt import PromptBuilder


def resize(pixels: Tensor, size: int) -> Tensor:
    """Bicubic, antialiased resize of square pixels (identity when already ``size``)."""
    if pixels.shape[-1] == size:
        return pixels
    return F.interpolate(pixels, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


class Blip3oEncoder(SharedTokenEncoder):
    """Pixels -> EVA-CLIP features ``(B, Q, C)`` (no gradient: the encoder is frozen)."""

    def __init__(self, tower: EvaVisionTower, normalize: PixelNormalizer, tokens: int) -> None:
        self.tower, self.normalize, self.tokens = tower, normalize, tokens

    @property
    def token_shape(self) -> tuple[int, int]:
        return self.tokens, int(self.tower.config.width)

    @torch.no_grad()
    def encode(self, pixels: Tensor) -> Tensor:
        values = self.normalize(resize(pixels.float(), self.tower.config.image_size))
        dtype = self.tower.pos_embed.dtype
        return pool_tokens(self.tower(values.to(dtype)), self.tower.grid, self.tokens)

    @torch.no_grad()
    def grey_tokens(self) -> Tensor:
        """``(1, Q, C)`` features of a mean-grey image: the decoder's unconditional input (reconstruction)."""
        size = self.tower.config.image_size
        grey = self.normalize.mean.expand(1, 3, size, size).to(self.normalize.mean.device)
        return self.encode(grey)


class Blip3oDecoder(Decoder):
    """Shared tokens -> ``(B, 3, S, S)`` pixels through the diffusion decoder (see ``decoder.py``)."""

    def __init__(self, diffusion: DiffusionDecoder) -> None:
        self.diffusion = diffusion

    def decode(self, tokens: Tensor, uncond: Tensor | None = None) -> Tensor:
        return self.diffusion.decode(tokens, uncond)


class Blip3oUnderstander(Understander):
    """Qwen2.5-VL: per-sample answer CE with native M-RoPE positions, and native batched greedy answers."""

    def __init__(self, model: Any, prompts: PromptBuilder, normalize: PixelNormalizer, image_size: int,
                 max_new_tokens: int = 16) -> None:
        self.model, self.prompts, self.normalize = model, prompts, normalize
        self.image_size, self.max_new_tokens = image_size, max_new_tokens
        vision = model.config.vision_config
        self.patch, self.merge, self.temporal = vision.patch_size, vision.spatial_merge_size, vision.temporal_patch_size

    @property
    def embedding_dim(self) -> int:
        return int(self.model.config.text_config.hidden_size)

    @property
    def device(self) -> torch.device:
        return self.model.lm_head.weight.device

    @property
    def context_length(self) -> int | None:
        return self.prompts.context

    def patches(self, pixels: Tensor) -> tuple[Tensor, Tensor]:
        """Pixels -> the processor's flattened patches and ``grid_thw`` (differentiable in pixels)."""
        values = self.normalize(resize(pixels.float(), self.image_size))
        return patchify(values, self.patch, self.merge, self.temporal)

    def embed_images(self, pixels: Tensor) -> Tensor:
        flat, grid = self.patches(pixels)
        visual = self.model.model.visual
        out = visual(flat.to(visual.dtype), grid_thw=grid.to(flat.device)).pooler_output
        return out.view(pixels.shape[0], -1, out.shape[-1])

    def _inputs(self, batch: TokenBatch, image_embeds: Tensor) -> dict[str, Tensor]:
        ids = batch.input_ids.to(self.device)
        embeds = self.model.get_input_embeddings()(ids)
        if image_embeds.shape[1] != self.prompts.num_image_tokens:
            raise ValueError(f"expected {self.prompts.num_image_tokens} image embeddings per sample, "
                             f"got {image_embeds.shape[1]}")
        mask = (ids == self.prompts.image_token_id).unsqueeze(-1)
        embeds = embeds.masked_scatter(mask, image_embeds.to(device=self.device, dtype=embeds.dtype))
        return {"inputs_embeds": embeds, "attention_mask": batch.attention_mask.to(self.device),
                "position_ids": self.prompts.positions(batch).to(self.device)}

    def answer_loss(self, image_embeds: Tensor, questions: Sequence[str], answers: Sequence[str]) -> Tensor:
        batch = self.prompts.build(questions, answers)
        hidden = self.model.model.language_model(**self._inputs(batch, image_embeds), use_cache=False).last_hidden_state
        return answer_cross_entropy(hidden, self.model.lm_head, batch, self.device)  # answer positions only

    @torch.no_grad()
    def generate(self, pixels: Tensor, questions: Sequence[str], max_new_tokens: int | None = None) -> list[str]:
        max_new_tokens = max_new_tokens or self.max_new_tokens
        batch = self.prompts.build(questions, reserve=max_new_tokens)
        flat, grid = self.patches(pixels)
        ids = batch.input_ids.to(self.device)
        out = self.model.generate(
            input_ids=ids, attention_mask=batch.attention_mask.to(self.device), pixel_values=flat,
            image_grid_thw=grid.to(self.device), mm_token_type_ids=self.prompts.token_types(batch).to(self.device),
            max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
            guidance_scale=1.0,  # a checkpoint's image-generation CFG scale must not turn on text CFG here
            pad_token_id=self.prompts.pad_id, eos_token_id=self.prompts.eos_id)
        texts = self.prompts.tokenizer.batch_decode(out[:, ids.shape[1]:], skip_special_tokens=True)
        return [t.strip() for t in texts]
