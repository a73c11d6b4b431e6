"""Built-in semantic gates that need no extra model: ``none`` and token-space ``cosine``.

The CLIP gate lives in its own plugin (``unigame_clip``) since it loads open_clip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..interfaces import GateInput, GateResult, Validator
from .settings import CosineGateConfig


class NoGate(Validator):
    """Keep every sample (score 1)."""

    def __init__(self, cfg: object = None, device: object = None) -> None:
        pass

    def check(self, pair: GateInput) -> GateResult:
        n = pair.adv_pixels.shape[0]
        ones = torch.ones(n, device=pair.adv_pixels.device)
        return GateResult(keep=ones.bool(), score=ones)


class TokenCosineGate(Validator):
    """Mean per-token cosine of clean vs perturbed tokens; samples below the threshold are dropped."""

    def __init__(self, cfg: CosineGateConfig, device: object = None) -> None:
        if cfg.threshold is None:  # build_config derives it from game.eps_max (settings.cosine_threshold)
            raise ValueError("the cosine gate needs a threshold (build_config derives one from game.eps_max)")
        self.threshold = cfg.threshold

    def check(self, pair: GateInput) -> GateResult:
        if pair.clean_tokens is None or pair.adv_tokens is None:
            raise ValueError("the cosine gate needs clean and perturbed tokens")
        score = F.cosine_similarity(pair.clean_tokens.float(), pair.adv_tokens.float(), dim=-1).mean(dim=-1)
        return GateResult(keep=score >= self.threshold, score=score)
