"""Per-sample refinement of the adversary's delta: a few projected, normalised gradient-ascent steps.

    delta <- Proj( delta + step * eps * ||z_i|| * g_i / ||g_i|| ),   g = d objective_b / d delta   (per token i)

Why it exists: on VQ tokenizers (Janus, Emu3) the shared tokens are codebook vectors, a discrete set, so a
per-token perturber ``C(z_i)`` is a lookup table: one fixed shift per code, the same in every image, at every
position, for every question. On the shipped shapes base at the same bound such a universal shift buys
+0.003 to +0.017 nats of cross-entropy, per-sample APGD +0.78, three of these steps +0.56. The perturber
therefore gives the STARTING POINT and these steps make each sample's attack its own, through the decoder, the
understander's encoder and the LLM (``docs/training.md``, "Perturber, refinement, gate, buffer").

Each sample's objective is its own (the objective is summed over the batch: sample b's delta only sees sample
b's loss), the step is normalised per token (every token moves by ``step * eps * ||z_i||``), and the result
is projected back into the same per-token ball ``||delta_i|| <= eps * ||z_i||`` the perturber respects.
Only ``delta`` receives a gradient here: neither the perturber nor the LoRA weights (``autograd.grad``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

_TINY = 1e-12


def bound_radius(clean: Tensor, eps: float) -> Tensor:
    """The per-token bound ``eps * ||z_i||``, shape ``(..., N, 1)``."""
    return eps * clean.detach().float().norm(dim=-1, keepdim=True)


def project(delta: Tensor, radius: Tensor) -> Tensor:
    """``delta`` scaled back into the ball ``||delta_i|| <= radius_i``, token by token (inside: unchanged)."""
    norm = delta.norm(dim=-1, keepdim=True)
    return delta * torch.clamp(radius / norm.clamp_min(_TINY), max=1.0)


def ascent_step(delta: Tensor, grad: Tensor, radius: Tensor, step: float) -> Tensor:
    """One normalised ascent step of size ``step * radius_i`` per token, then the projection."""
    direction = grad / grad.norm(dim=-1, keepdim=True).clamp_min(_TINY)
    return project(delta + step * radius * direction, radius)


def refine(
    delta: Tensor, objective: Callable[[Tensor], Tensor], radius: Tensor, steps: int, step: float,
    first_grad: Tensor | None = None,
) -> Tensor:
    """``steps`` ascent steps on ``objective(delta)`` (per sample, shape ``(B,)``; summed for the gradient)
    from ``delta`` (detached). ``first_grad``: the gradient at ``delta`` when the caller already has it (the
    perturber's own backward pass gives it), saving one forward/backward. Returns the refined delta, detached."""
    delta = project(delta.detach().float(), radius)
    for k in range(steps):
        if k == 0 and first_grad is not None:
            grad = first_grad.float()
        else:
            with torch.enable_grad():
                x = delta.clone().requires_grad_(True)
                (grad,) = torch.autograd.grad(objective(x).sum(), [x])
        delta = ascent_step(delta, grad.detach(), radius, step)
    return delta.detach()
