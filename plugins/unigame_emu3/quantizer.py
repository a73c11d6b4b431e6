"""The MoVQ codebook, its nearest-code search, and the straight-through soft quantiser into the LLM.

Emu3's LLM reads an image as discrete ids: the nearest codebook entry of every latent, mapped to its
``<|visual token NNNNNN|>`` row of the LLM's embedding table. That argmin has no gradient. The
straight-through soft quantiser keeps the forward pass exactly the hard path and routes the gradient
through a softmax over (negative) squared distances to the codes::

    p_k  = softmax_k(-||e - c_k||^2 / T)            over all codes, or the k nearest (``topk``)
    soft = sum_k p_k E[visual(k)]                   (E: the LLM's input embedding table)
    out  = hard + (soft - soft.detach())            forward == hard, d out / d e == d soft / d e

``T`` is ``soft_temperature`` times the codebook's median squared nearest-neighbour distance, so one
setting serves codebooks of any scale. With ``topk`` the soft sum is an ``embedding_bag`` over the k
nearest codes: neither the (tokens x codebook) probabilities nor a (tokens x k x D) gather is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class CodebookStats:
    """Scale of the codebook: what an eps relative to ``||z_i||`` means in codes."""

    size: int
    median_norm: float  # median ||c_k||
    low_norm: float  # 10th percentile of ||c_k|| (a relative bound gives such tokens a proportionally smaller budget)
    median_spacing: float  # median distance from a code to its nearest other code

    @property
    def spacing_over_norm(self) -> float:
        """A relative bound ``eps`` moves a typical token ``eps / spacing_over_norm`` code spacings."""
        return self.median_spacing / max(self.median_norm, 1e-12)


class Codebook:
    """The MoVQ codebook ``(K, D)`` with chunked searches (at most ``chunk x K`` distances at a time)."""

    def __init__(self, embedding: torch.nn.Embedding, chunk: int = 4096) -> None:
        self.embedding = embedding
        self.chunk = max(1, int(chunk))

    @property
    def vectors(self) -> Tensor:
        """``(K, D)`` code vectors in float32 (follows device moves)."""
        return self.embedding.weight.float()

    def distances(self, flat: Tensor, codes: Tensor | None = None) -> Tensor:
        """``(M, D)`` x ``(K, D)`` -> squared distances ``(M, K)``, in the same form as Emu3's quantiser."""
        codes = self.vectors if codes is None else codes
        return flat.pow(2).sum(1, keepdim=True) + codes.pow(2).sum(1) - 2 * flat @ codes.T

    @torch.no_grad()
    def nearest(self, z: Tensor) -> Tensor:
        """``(..., D)`` -> ``(...)`` ids of the nearest code: Emu3's argmin, in ``z``'s dtype like the model's."""
        flat = z.detach().reshape(-1, z.shape[-1])
        codes = self.embedding.weight.to(flat.dtype)
        ids = [self.distances(part, codes).argmin(1) for part in flat.split(self.chunk)]
        return torch.cat(ids).view(z.shape[:-1])

    @torch.no_grad()
    def topk(self, z: Tensor, k: int) -> Tensor:
        """``(M, D)`` -> ``(M, k)`` ids of the ``k`` nearest codes, nearest first."""
        flat = z.detach().float()
        parts = [self.distances(part).topk(k, dim=1, largest=False).indices for part in flat.split(self.chunk)]
        return torch.cat(parts)

    def lookup(self, ids: Tensor) -> Tensor:
        return self.vectors[ids]

    @torch.no_grad()
    def stats(self) -> CodebookStats:
        codes = self.vectors
        nearest, chunk = [], min(self.chunk, 1024)
        for start in range(0, codes.shape[0], chunk):
            d = self.distances(codes[start : start + chunk], codes).clamp_min(0)
            rows = torch.arange(d.shape[0], device=d.device)
            d[rows, rows + start] = float("inf")  # not itself
            nearest.append(d.min(1).values.sqrt())
        spacing = torch.cat(nearest)
        spacing = spacing[torch.isfinite(spacing)]
        norms = codes.norm(dim=1)
        return CodebookStats(int(codes.shape[0]), float(norms.median()), float(norms.quantile(0.1)),
                             float(spacing.median()) if spacing.numel() else 0.0)


class SoftQuantizer:
    """Continuous latents -> the LLM's visual-token embeddings, hard forward, soft-assignment gradient."""

    def __init__(self, codebook: Codebook, token_ids: Tensor, embedding: torch.nn.Embedding, *, topk: int = 0,
                 temperature: float = 1.0) -> None:
        self.codebook = codebook
        self.token_ids = token_ids  # (K,) long: code k -> its <|visual token k|> id in the LLM vocabulary
        self.embedding = embedding
        self.topk = int(topk)
        stats = codebook.stats()
        self.temperature = float(temperature) * max(stats.median_spacing, 1e-6) ** 2
        self.stats = stats

    def hard_ids(self, latents: Tensor) -> Tensor:
        """``(B, N, D)`` latents -> ``(B, N)`` LLM token ids (exactly the native tokenisation)."""
        return self.token_ids.to(latents.device)[self.codebook.nearest(latents)]

    def __call__(self, latents: Tensor) -> Tensor:
        """``(B, N, D)`` latents -> ``(B, N, D_u)`` embeddings; differentiable when ``latents`` are."""
        ids = self.hard_ids(latents)
        hard = self.embedding(ids)
        if not (torch.is_grad_enabled() and latents.requires_grad):
            return hard
        soft = self._soft(latents.float().reshape(-1, latents.shape[-1])).view_as(hard)
        return hard + (soft - soft.detach())

    def _soft(self, flat: Tensor) -> Tensor:
        weight = self.embedding.weight
        token_ids = self.token_ids.to(flat.device)
        if self.topk > 0:
            k = min(self.topk, token_ids.shape[0])
            near = self.codebook.topk(flat, k)  # (M, k), no gradient
            d = (flat.unsqueeze(1) - self.codebook.lookup(near)).pow(2).sum(-1)  # (M, k), differentiable
            p = torch.softmax(-d / self.temperature, dim=-1)
            return F.embedding_bag(token_ids[near], weight, per_sample_weights=p.to(weight.dtype), mode="sum")
        p = torch.softmax(-self.codebook.distances(flat) / self.temperature, dim=-1)  # (M, K)
        return p.to(weight.dtype) @ weight[token_ids]
