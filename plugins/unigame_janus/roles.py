"""The three roles Janus plays: VQ encoder (shared tokens), VQ decoder, and the SigLIP + LLM understander.

Shared tokens ``z`` are the VQ-16 codes as the original Janus / LlamaGen tokenizer uses them: latents
and codebook are L2-normalised before the nearest-code search, and ``z`` holds the normalised code
vectors. transformers' ``JanusVQVAEVectorQuantizer.forward`` skips that normalisation (its decode path,
``get_codebook_entry``, does normalise), so its token ids can differ from the original model's. The encoder
here searches in the normalised space, which makes ``decode(encode(x))`` equal the model's own
``decode_image_tokens`` of the same ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from unigame_core.interfaces import Decoder, SharedTokenEncoder, Understander
from unigame_core.prompts import TokenBatch, answer_cross_entropy

from .preprocess import PixelNormalizer
from .prompt import PromptBuilder


class Precision:
    """The one place dtype is handled: inputs go to the model's device/dtype, results come back float32."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device, self.dtype = device, dtype

    def to_model(self, x: Tensor) -> Tensor:
        return x.to(device=self.device, dtype=self.dtype)

    @staticmethod
    def to_output(x: Tensor) -> Tensor:
        return x.float()


class Codebook:
    """The VQ codebook, L2-normalised, with a chunked nearest-code search (no (B*N, K) blow-up)."""

    def __init__(self, vqmodel: Any, chunk: int = 2048) -> None:
        self.vqmodel = vqmodel
        self.chunk = chunk

    @property
    def vectors(self) -> Tensor:
        """``(K, D)`` unit-norm code vectors in float32 (recomputed: cheap, and follows device moves)."""
        return F.normalize(self.vqmodel.quantize.embedding.weight.float(), dim=-1)

    def nearest(self, z: Tensor) -> Tensor:
        """``(..., D)`` -> ``(...)`` ids of the nearest unit code to the L2-normalised ``z`` (max cosine)."""
        codes = self.vectors
        flat = F.normalize(z.detach().float().reshape(-1, z.shape[-1]), dim=-1)
        ids = torch.cat([(part @ codes.T).argmax(-1) for part in flat.split(self.chunk)])
        return ids.view(z.shape[:-1])

    def lookup(self, ids: Tensor) -> Tensor:
        return self.vectors[ids]


class JanusVQEncoder(SharedTokenEncoder):
    """Pixels -> VQ-16 shared tokens ``(B, N, 8)`` (unit-norm code vectors), N = (S / 16)^2."""

    def __init__(self, vqmodel: Any, codebook: Codebook, normalize: PixelNormalizer, precision: Precision,
                 grid: int) -> None:
        self.vqmodel, self.codebook, self.normalize = vqmodel, codebook, normalize
        self.precision, self.grid = precision, grid

    @property
    def token_shape(self) -> tuple[int, int]:
        return self.grid * self.grid, int(self.vqmodel.config.embed_dim)

    @torch.no_grad()
    def latents(self, pixels: Tensor) -> Tensor:
        """The encoder's continuous latents before quantisation, ``(B, N, D)`` float32 (not normalised)."""
        h = self.vqmodel.quant_conv(self.vqmodel.encoder(self.precision.to_model(self.normalize(pixels))))
        return self.precision.to_output(h.flatten(2).transpose(1, 2))

    def encode_tokens(self, pixels: Tensor) -> Tensor:
        """Pixels -> codebook ids ``(B, N)`` (what Janus' generation head predicts)."""
        return self.codebook.nearest(self.latents(pixels))

    def encode(self, pixels: Tensor) -> Tensor:
        return self.codebook.lookup(self.encode_tokens(pixels))

    def token_ids(self, tokens: Tensor) -> Tensor:
        return self.codebook.nearest(tokens)


class JanusVQDecoder(Decoder):
    """Shared tokens ``(B, N, 8)`` -> pixels ``(B, 3, S, S)`` in [0, 1] with the VQ decoder (continuous input).

    ``straight_through=True`` snaps each token to its nearest unit code in the forward pass (so the
    image is exactly the decode of a token sequence the model can emit) and passes the gradient through
    unchanged.
    """

    def __init__(self, vqmodel: Any, codebook: Codebook, precision: Precision, grid: int,
                 straight_through: bool = False) -> None:
        self.vqmodel, self.codebook, self.precision, self.grid = vqmodel, codebook, precision, grid
        self.straight_through = straight_through

    def quantize(self, z: Tensor) -> Tensor:
        """Straight-through re-quantisation: forward = nearest unit code, backward = identity."""
        snapped = self.codebook.lookup(self.codebook.nearest(z)).to(z.dtype)
        return snapped + (z - z.detach())  # exactly the code vectors forward (z - z.detach() == 0)

    def decode(self, tokens: Tensor) -> Tensor:
        z = self.quantize(tokens) if self.straight_through else tokens
        grid = z.transpose(1, 2).reshape(z.shape[0], z.shape[2], self.grid, self.grid).contiguous()
        x = self.vqmodel.decoder(self.vqmodel.post_quant_conv(self.precision.to_model(grid)))
        return ((self.precision.to_output(x) + 1) / 2).clamp(0, 1)


class JanusUnderstander(Understander):
    """SigLIP-L + aligner + the Llama LLM: per-sample answer CE and batched greedy answers."""

    def __init__(self, model: Any, prompts: PromptBuilder, normalize: PixelNormalizer, precision: Precision,
                 max_new_tokens: int = 16) -> None:
        self.model, self.prompts, self.normalize, self.precision = model, prompts, normalize, precision
        self.max_new_tokens = max_new_tokens

    @property
    def embedding_dim(self) -> int:
        return int(self.model.config.text_config.hidden_size)

    @property
    def context_length(self) -> int | None:
        return self.prompts.context

    def embed_images(self, pixels: Tensor) -> Tensor:
        """Pixels -> aligned SigLIP features ``(B, 576, D)`` in the model dtype (what the LLM reads)."""
        inner = self.model.model
        vision = inner.vision_model(pixel_values=self.precision.to_model(self.normalize(pixels)))
        return inner.aligner(vision.last_hidden_state)

    def _inputs_embeds(self, batch: TokenBatch, image_embeds: Tensor) -> Tensor:
        """Token embeddings with ``image_embeds`` written over the placeholder positions (same length)."""
        device = self.precision.device
        embeds = self.model.get_input_embeddings()(batch.input_ids.to(device, non_blocking=True))
        b, length, width = embeds.shape
        index = batch.image_index(self.prompts.image_token_id)
        if image_embeds.shape[0] * image_embeds.shape[1] != index.numel() or image_embeds.shape[-1] != width:
            raise ValueError(f"image_embeds {tuple(image_embeds.shape)} do not fit {b} prompts with "
                             f"{index.numel() // max(b, 1)} image positions of width {width}")
        features = self.precision.to_model(image_embeds).reshape(-1, width)
        return embeds.reshape(b * length, width).index_copy(0, index.to(device), features).view(b, length, width)

    def answer_loss(self, image_embeds: Tensor, questions: Sequence[str], answers: Sequence[str]) -> Tensor:
        batch = self.prompts.build(questions, answers)
        device = self.precision.device
        hidden = self.model.model.language_model(
            inputs_embeds=self._inputs_embeds(batch, image_embeds),
            attention_mask=batch.attention_mask.to(device, non_blocking=True),
            position_ids=batch.position_ids.to(device, non_blocking=True), use_cache=False,
        ).last_hidden_state
        return answer_cross_entropy(hidden, self.model.lm_head, batch, device)  # lm_head at answer positions only

    @torch.no_grad()
    def generate(self, pixels: Tensor, questions: Sequence[str], max_new_tokens: int | None = None) -> list[str]:
        batch = self.prompts.build(questions, reserve=max_new_tokens or self.max_new_tokens)
        device = self.precision.device
        out = self.model.generate(
            inputs_embeds=self._inputs_embeds(batch, self.embed_images(pixels)),
            attention_mask=batch.attention_mask.to(device),
            max_new_tokens=max_new_tokens or self.max_new_tokens, max_length=None, do_sample=False, use_cache=True,
            pad_token_id=self.prompts.pad_id, eos_token_id=self.prompts.eos_id,
        )
        texts = self.prompts.tokenizer.batch_decode(out, skip_special_tokens=True)
        return [t.strip() for t in texts]
