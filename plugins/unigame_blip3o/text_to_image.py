"""Text-to-image with BLIP3-o: LLM query states -> DiT (flow matching) -> EVA-CLIP features -> decoder.

BLIP3-o's ``generate_image`` recipe: the chat prompt "Please generate image based on the following
caption: {caption}", then ``[IMG]`` and the 64 learned ``latent_queries`` embeddings; ONE LLM forward;
the final-norm hidden states at the query positions condition the DiT, which denoises an 8 x 8 grid of
EVA-CLIP features (30 Euler steps, CFG against zero conditioning); the diffusion decoder draws them, its
unconditional input being the DiT's features for the raw caption " " (no chat template, as the official
pipeline encodes it; cached).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from unigame_core.errors import ConfigError

from .decoder import DiffusionDecoder
from .dit import GenerationHead
from .settings import GENERATION_PROMPT


class TextToImage:
    """Batched, left-padded text-to-image (see the module docstring); deterministic for a given seed."""

    def __init__(self, model: Any, tokenizer: Any, head: GenerationHead, queries: Tensor, decoder: DiffusionDecoder,
                 *, steps: int, system_prompt: str | None) -> None:
        self.model, self.tokenizer, self.head, self.queries, self.decoder = model, tokenizer, head, queries, decoder
        self.steps = steps
        self.system = f"<|im_start|>system\n{system_prompt}<|im_end|>\n" if system_prompt else ""
        self._negative: dict[tuple[float, int], Tensor] = {}
        self.negative_prompt, self.negative_raw = " ", True  # the decoder's unconditional caption, untemplated
        img = tokenizer.convert_tokens_to_ids("[IMG]")
        if img is None or img == tokenizer.unk_token_id:
            raise ConfigError("The tokenizer has no '[IMG]' token, which BLIP3-o's text-to-image prompt ends with.",
                              "Load the BLIP3-o checkpoint's own tokenizer, or set backend.text_to_image=false.")

    def _text(self, caption: str) -> str:
        user = GENERATION_PROMPT.format(caption=caption)
        return f"{self.system}<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n[IMG]"

    def prompt_ids(self, captions: Sequence[str], raw: bool = False) -> list[list[int]]:
        """Token ids before the queries: the chat prompt ending in ``[IMG]``, or (``raw``) the captions as they are."""
        texts = list(captions) if raw else [self._text(c) for c in captions]
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    @torch.no_grad()
    def query_states(self, captions: Sequence[str], raw: bool = False) -> Tensor:
        """``(B, Q, D)`` final-norm LLM states at the query positions (explicit positions, left padding)."""
        device = self.model.lm_head.weight.device
        rows = self.prompt_ids(captions, raw)
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], dtype=torch.long, device=device)
        text_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=torch.long)
        b, q = ids.shape[0], self.queries.shape[1]
        embeds = self.model.get_input_embeddings()(ids)
        embeds = torch.cat([embeds, self.queries.to(device, embeds.dtype).expand(b, q, -1)], dim=1)
        mask = torch.cat([text_mask, torch.ones(b, q, dtype=torch.long)], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0).unsqueeze(0).expand(3, b, -1)
        hidden = self.model.model.language_model(inputs_embeds=embeds, attention_mask=mask.to(device),
                                                 position_ids=positions.to(device), use_cache=False).last_hidden_state
        return hidden[:, -q:]

    def features(self, captions: Sequence[str], guidance: float, seed: int, raw: bool = False) -> Tensor:
        """``(B, 64, C)`` EVA-CLIP features the DiT writes for ``captions``."""
        return self.head.sample(self.query_states(captions, raw), steps=self.steps, guidance=guidance, seed=seed)

    @torch.no_grad()
    def __call__(self, captions: Sequence[str], *, guidance: float, seed: int) -> Tensor:
        if (guidance, seed) not in self._negative:
            negative = self.features([self.negative_prompt], guidance, seed, raw=self.negative_raw)
            self._negative = {(guidance, seed): negative}
        features = self.features(captions, guidance, seed)
        return self.decoder.decode(features, uncond=self._negative[(guidance, seed)]).float()
