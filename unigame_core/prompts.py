"""Tokenised chat batches and the per-sample answer loss that every backend shares.

A backend builds a left-padded ``TokenBatch`` whose ``answer_mask`` marks the answer tokens; the LLM
runs once, and ``answer_cross_entropy`` applies the LM head ONLY at the positions that predict an
answer token (a ``(T, V)`` matrix, never ``(B, L, V)``), returning each sample's mean CE.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class TokenBatch:
    """Left-padded token ids of a batch; ``answer_mask`` marks the answer tokens (the CE targets)."""

    input_ids: Tensor  # (B, L) long
    attention_mask: Tensor  # (B, L) long, 0 on the left padding
    answer_mask: Tensor  # (B, L) bool

    @property
    def position_ids(self) -> Tensor:
        """Positions that ignore the left padding (each sample's first real token is at 0)."""
        return (self.attention_mask.cumsum(-1) - 1).clamp_(min=0)

    def image_index(self, image_token_id: int) -> Tensor:
        """Flat ``(B * L)`` positions of the image placeholders, sample by sample, in order."""
        return (self.input_ids.flatten() == image_token_id).nonzero().squeeze(1)

    def answer_index(self) -> tuple[Tensor, Tensor, Tensor]:
        """(flat positions that predict an answer token, those answer tokens, their sample index).

        Computed on the CPU where the batch is built, so the device never waits on a boolean mask.
        """
        sample, column = self.answer_mask.nonzero(as_tuple=True)
        width = self.input_ids.shape[1]
        return sample * width + column - 1, self.input_ids[sample, column], sample


def answer_cross_entropy(hidden: Tensor, lm_head: torch.nn.Module, batch: TokenBatch, device: torch.device) -> Tensor:
    """Per-sample mean CE over the answer tokens, ``(B,)`` float32, from the LLM's ``(B, L, D)`` hidden states."""
    predictors, labels, sample = (t.to(device, non_blocking=True) for t in batch.answer_index())
    logits = lm_head(hidden.flatten(0, 1).index_select(0, predictors))
    token_ce = F.cross_entropy(logits.float(), labels, reduction="none")
    totals = torch.zeros(batch.input_ids.shape[0], device=device).index_add_(0, sample, token_ce)
    return totals / batch.answer_mask.sum(1).clamp(min=1).to(device, non_blocking=True)
