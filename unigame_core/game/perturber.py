"""The perturber C: a small MLP applied per visual token, with a bounded output.

    z~ = z + delta,   ||delta_i|| <= eps * ||z_i||   for every token i

The bound is relative to each token's own norm so one ``eps_max`` serves unit-norm VQ codes
(Janus, where it equals the paper's absolute bound), codebook vectors of any radius (Emu3) and
LLM embeddings (the embedding coupling). Two bound forms:

* ``radial``: delta = eps * tanh(|u|) * u / |u|   (smooth, never exceeds eps)
* ``direction``: delta = eps * sigmoid(s) * u / |u| with a learnable scalar s (unit direction x learnable eps)

The last layer starts near zero so the game opens at delta ~ 0.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

_TINY = 1e-12


class Perturber(nn.Module):

    def __init__(
        self, dim: int, hidden: int = 64, depth: int = 3, bound: str = "radial", init_scale: float = 1e-3
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError("depth must be >= 1")
        layers: list[nn.Module] = []
        width = dim
        for _ in range(depth - 1):
            layers += [nn.Linear(width, hidden), nn.GELU()]
            width = hidden
        last = nn.Linear(width, dim)
        nn.init.normal_(last.weight, std=init_scale)
        nn.init.zeros_(last.bias)
        layers.append(last)
        self.net = nn.Sequential(*layers)
        self.bound = bound
        self.log_scale = nn.Parameter(torch.zeros(())) if bound == "direction" else None

    def forward(self, z: Tensor, eps: float) -> tuple[Tensor, Tensor]:
        """Return ``(z + delta, delta)``; computed in fp32 whatever ``z``'s dtype."""
        z32 = z.float()
        u = self.net(z32)
        norm = u.norm(dim=-1, keepdim=True).clamp_min(_TINY)
        radius = eps * z32.norm(dim=-1, keepdim=True).detach()
        if self.bound == "direction":
            assert self.log_scale is not None
            delta = radius * torch.sigmoid(self.log_scale) * u / norm
        else:
            delta = radius * torch.tanh(norm) * u / norm
        return z32 + delta, delta


def random_delta(z: Tensor, eps: float, generator: torch.Generator | None = None) -> Tensor:
    """Random bounded noise (the ``noise`` couplings): uniform direction, radius eps * ||z_i|| * U(0,1)."""
    z32 = z.float()
    u = torch.randn(z32.shape, generator=generator, device="cpu").to(z32.device)
    r = torch.rand(z32.shape[:-1] + (1,), generator=generator, device="cpu").to(z32.device)
    direction = u / u.norm(dim=-1, keepdim=True).clamp_min(_TINY)
    return eps * r * z32.norm(dim=-1, keepdim=True) * direction


def random_perturbation(z: Tensor, eps: float, generator: torch.Generator | None = None) -> Tensor:
    """``z + random_delta(z, eps)``."""
    return z.float() + random_delta(z, eps, generator)
