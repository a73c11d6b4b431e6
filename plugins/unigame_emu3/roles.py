"""The three roles Emu3 plays with ONE MoVQ tokenizer: shared tokens, their decoder, and the LLM reading them.

* encoder: pixels -> MoVQ latents -> nearest codes; ``z`` holds the code vectors ``(B, h*w, 4)``.
* decoder: ``z + delta`` (continuous, off the codebook) -> MoVQ decoder -> pixels (differentiable).
* understander: pixels -> the same MoVQ encoder -> straight-through soft quantiser -> the LLM's
  visual-token embedding rows, one ``<|extra_200|>`` row terminator after every row, exactly the
  sequence the processor and ``Emu3Model`` build from discrete ids. The adversary's gradient crosses
  the quantisation through the soft assignment; the forward pass is the native hard-token path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from unigame_core.interfaces import Decoder, SharedTokenEncoder, Understander
from unigame_core.prompts import TokenBatch, answer_cross_entropy

from .movq import MoVQ
from .prompt import PromptBuilder
from .quantizer import Codebook, SoftQuantizer


def _tokens(latents: Tensor) -> Tensor:
    """``(B, C, h, w)`` -> ``(B, h*w, C)`` in raster order (the order of the LLM's visual tokens)."""
    return latents.flatten(2).transpose(1, 2)


class Emu3Encoder(SharedTokenEncoder):
    """Pixels -> MoVQ shared tokens ``(B, (S/8)^2, 4)``: the code vectors the generation branch writes."""

    def __init__(self, movq: MoVQ, codebook: Codebook, grid: int) -> None:
        self.movq, self.codebook, self.grid = movq, codebook, grid

    @property
    def token_shape(self) -> tuple[int, int]:
        return self.grid * self.grid, int(self.codebook.embedding.weight.shape[1])

    @torch.no_grad()
    def encode_ids(self, pixels: Tensor) -> Tensor:
        """Pixels -> codebook ids ``(B, h*w)``; equal to ``Emu3VQVAE.encode``'s image tokens."""
        return self.codebook.nearest(_tokens(self.movq.latents(pixels)))

    def encode(self, pixels: Tensor) -> Tensor:
        return self.codebook.lookup(self.encode_ids(pixels))

    def token_ids(self, tokens: Tensor) -> Tensor:
        return self.codebook.nearest(tokens)


class Emu3Decoder(Decoder):
    """Shared tokens ``(B, h*w, 4)`` -> ``[0, 1]`` pixels with the MoVQ decoder (continuous input, 2-D path).

    ``straight_through=True`` snaps each token to its nearest code in the forward pass (the image is then
    exactly the decode of a token sequence the model can emit) and passes the gradient through unchanged.
    """

    def __init__(self, movq: MoVQ, grid: int, codebook: Codebook | None = None, straight_through: bool = False) -> None:
        self.movq, self.grid = movq, grid
        self.codebook, self.straight_through = codebook, straight_through
        if straight_through and codebook is None:
            raise ValueError("straight_through needs the codebook")

    def decode(self, tokens: Tensor) -> Tensor:
        b, n, c = tokens.shape
        if n != self.grid * self.grid:
            raise ValueError(f"expected {self.grid * self.grid} tokens per image, got {n}")
        if self.straight_through and self.codebook is not None:
            snapped = self.codebook.lookup(self.codebook.nearest(tokens)).to(tokens.dtype)
            tokens = tokens + (snapped - tokens).detach()
        latents = tokens.transpose(1, 2).reshape(b, c, self.grid, self.grid)
        return self.movq.normalize.inverse(self.movq.decode(latents))

    def decode_ids(self, ids: Tensor) -> Tensor:
        """Codebook ids ``(B, h*w)`` -> pixels (what ``Emu3Model.decode_image_tokens`` draws)."""
        return self.decode(self.movq.vq.quantize.embedding.weight[ids])


class Emu3Understander(Understander):
    """The LLM over visual-token embeddings: per-sample answer CE and batched greedy answers."""

    def __init__(self, model: Any, movq: MoVQ, quantizer: SoftQuantizer, prompts: PromptBuilder, eol_id: int,
                 max_new_tokens: int = 16) -> None:
        self.model, self.movq, self.quantizer, self.prompts = model, movq, quantizer, prompts
        self.eol_id = eol_id
        self.max_new_tokens = max_new_tokens

    @property
    def embedding_dim(self) -> int:
        return int(self.model.config.text_config.hidden_size)

    @property
    def context_length(self) -> int | None:
        return self.prompts.context

    @property
    def device(self) -> torch.device:
        return self.model.lm_head.weight.device

    def image_ids(self, pixels: Tensor) -> Tensor:
        """Pixels -> ``(B, h*(w+1))`` LLM ids of the image block (visual tokens + row terminators), no gradient."""
        with torch.no_grad():
            latents = self.movq.latents(pixels)
            b, _, h, w = latents.shape
            ids = self.quantizer.hard_ids(_tokens(latents)).view(b, h, w)
            eol = torch.full((b, h, 1), self.eol_id, dtype=ids.dtype, device=ids.device)
            return torch.cat([ids, eol], dim=2).view(b, -1)

    def embed_images(self, pixels: Tensor) -> Tensor:
        """Pixels -> ``(B, h*(w+1), D)`` embeddings at the image placeholders, in the model dtype.

        Forward: the embedding rows of the native token ids. Gradient: through the soft assignment.
        """
        latents = self.movq.latents(pixels)
        b, _, h, w = latents.shape
        rows = self.quantizer(_tokens(latents)).view(b, h, w, -1)
        table = self.model.get_input_embeddings()
        eol = table(torch.tensor(self.eol_id, device=rows.device)).to(rows.dtype).expand(b, h, 1, rows.shape[-1])
        return torch.cat([rows, eol], dim=2).reshape(b, h * (w + 1), rows.shape[-1])

    def _inputs_embeds(self, batch: TokenBatch, image_embeds: Tensor) -> Tensor:
        """Token embeddings with ``image_embeds`` written over the placeholder positions (same length)."""
        ids = batch.input_ids.to(self.device)
        embeds = self.model.get_input_embeddings()(ids)
        if image_embeds.shape[1] != self.prompts.num_image_tokens:
            raise ValueError(f"expected {self.prompts.num_image_tokens} image embeddings per sample, "
                             f"got {image_embeds.shape[1]}")
        placeholders = (ids == self.prompts.image_token_id).unsqueeze(-1)
        return embeds.masked_scatter(placeholders, image_embeds.to(device=self.device, dtype=embeds.dtype))

    def answer_loss(self, image_embeds: Tensor, questions: Sequence[str], answers: Sequence[str]) -> Tensor:
        batch = self.prompts.build(questions, answers)
        mask = batch.attention_mask.to(self.device)
        hidden = self.model.model.text_model(
            inputs_embeds=self._inputs_embeds(batch, image_embeds), attention_mask=mask,
            position_ids=batch.position_ids.to(self.device), use_cache=False,
        ).last_hidden_state
        return answer_cross_entropy(hidden, self.model.lm_head, batch, self.device)  # answer positions only

    @torch.no_grad()
    def generate(self, pixels: Tensor, questions: Sequence[str], max_new_tokens: int | None = None) -> list[str]:
        batch = self.prompts.build(questions, reserve=max_new_tokens or self.max_new_tokens)
        out = self.model.generate(
            inputs_embeds=self._inputs_embeds(batch, self.embed_images(pixels)),
            attention_mask=batch.attention_mask.to(self.device),
            max_new_tokens=max_new_tokens or self.max_new_tokens, do_sample=False, use_cache=True,
            pad_token_id=self.prompts.pad_id, eos_token_id=self.prompts.eos_id,
        )
        texts = self.prompts.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [t.strip() for t in texts]
