"""The two threat models, through the backend's roles only (no model named here).

* :class:`PixelBall` -- ``attack-pgd``: ``x_adv = x + delta``, ``||delta||_inf <= eps`` and ``x_adv`` in
  ``[0, 1]``, on the pixels the understander reads (``Understander.embed_images`` is differentiable in them).
* :class:`TokenBall` -- ``attack-decoder``, the game's own threat model: ``z = encode(x)``,
  ``x_adv = decode(z + delta)`` with ``||delta_i||_2 <= eps * ||z_i||`` for every shared token ``i`` (the
  perturber's bound), through the model's own decoder (exact or straight-through gradient).

Each ball also says how far a perturbation went (``size``: ``max |x_adv - x|`` in pixels, ``max_i
||delta_i|| / ||z_i||`` in tokens), which the suites record, and ``image(delta)``, what the model is shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import torch
from torch import Tensor

from unigame_core.errors import ConfigError
from unigame_core.interfaces import Backend

_TINY = 1e-12


def parse_eps(values: Sequence[str], suite: str) -> list[tuple[str, float]]:
    """``["2/255", "0.1"]`` -> ``[("2/255", 0.00784...), ("0.1", 0.1)]``, sorted by radius, each >= 0."""
    parsed = []
    for raw in values:
        text = str(raw).strip()
        try:
            value = float(Fraction(text))
        except (ValueError, ZeroDivisionError):
            raise ConfigError(f"Suite '{suite}': eps '{text}' is not a number or a fraction such as 2/255.") from None
        if value < 0:
            raise ConfigError(f"Suite '{suite}': eps must be >= 0, got {text}.")
        parsed.append((text, value))
    if not parsed:
        raise ConfigError(f"Suite '{suite}' needs at least one eps.")
    return sorted(parsed, key=lambda item: item[1])


class PixelBall:
    """``{x + delta : ||delta||_inf <= eps, 0 <= x + delta <= 1}`` around a batch of pixels ``x``."""

    def __init__(self, backend: Backend, pixels: Tensor, eps: float) -> None:
        self.x, self.eps = pixels.detach().float(), eps

    def zeros(self) -> Tensor:
        return torch.zeros_like(self.x)

    def project(self, delta: Tensor) -> Tensor:
        return (self.x + delta.clamp(-self.eps, self.eps)).clamp(0, 1) - self.x

    def ascent(self, grad: Tensor) -> Tensor:
        return self.eps * grad.sign()

    def random(self, generator: torch.Generator) -> Tensor:
        noise = torch.rand(self.x.shape, generator=generator).to(self.x.device)
        return self.project((2 * noise - 1) * self.eps)

    def image(self, delta: Tensor) -> Tensor:
        return self.x + delta

    def size(self, delta: Tensor) -> Tensor:
        """``max |x_adv - x|`` per image."""
        return (self.image(delta) - self.x).abs().flatten(1).amax(1)


class TokenBall:
    """``{decode(z + delta) : ||delta_i|| <= eps * ||z_i||}`` around the shared tokens of a batch."""

    def __init__(self, backend: Backend, pixels: Tensor, eps: float) -> None:
        with torch.no_grad():
            tokens = backend.encoder.encode(pixels)
        self.decoder, self.dtype, self.z = backend.decoder, tokens.dtype, tokens.float()
        self.bound = eps * self.z.norm(dim=-1, keepdim=True)

    def zeros(self) -> Tensor:
        return torch.zeros_like(self.z)

    def project(self, delta: Tensor) -> Tensor:
        norm = delta.norm(dim=-1, keepdim=True)
        return delta * (self.bound / norm.clamp_min(_TINY)).clamp(max=1.0)

    def ascent(self, grad: Tensor) -> Tensor:
        return self.bound * grad / grad.norm(dim=-1, keepdim=True).clamp_min(_TINY)

    def random(self, generator: torch.Generator) -> Tensor:
        direction = torch.randn(self.z.shape, generator=generator).to(self.z.device)
        radius = torch.rand((*self.z.shape[:-1], 1), generator=generator).to(self.z.device)
        return self.bound * radius * direction / direction.norm(dim=-1, keepdim=True).clamp_min(_TINY)

    def image(self, delta: Tensor) -> Tensor:
        return self.decoder.decode((self.z + delta).to(self.dtype)).float()

    def size(self, delta: Tensor) -> Tensor:
        """``max_i ||delta_i|| / ||z_i||`` per image (the coupling's relative norm)."""
        return (delta.norm(dim=-1) / self.z.norm(dim=-1).clamp_min(_TINY)).amax(1)
