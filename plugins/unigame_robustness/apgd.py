"""APGD (Croce & Hein, ICML 2020, Algorithm 1) on any bounded perturbation: the ascent the attack suites run.

What is implemented, per sample (every image keeps its own step size and its own best point):

* maximise the per-sample loss ``f(delta)`` (here the understander's answer cross-entropy: APGD-CE);
* step size ``eta`` in units of the radius, starting at ``2`` (the paper's ``2 * eps``); the first step is a
  plain projected ascent step ``delta_1 = P(delta_0 + eta * s(grad))``, ``s`` the ball's steepest-ascent
  direction (``eps * sign(g)`` for L_inf, ``bound * g / ||g||`` for an L2 ball);
* then momentum ``alpha = 0.75``: ``u = P(delta_k + eta * s(grad_k))``,
  ``delta_{k+1} = P(delta_k + alpha (u - delta_k) + (1 - alpha)(delta_k - delta_{k-1}))``;
* checkpoints ``w_j = ceil(p_j * N)`` with ``p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``;
  at each one the step size halves and the iterate restarts from the best point found (with its gradient)
  when (1) fewer than ``rho = 0.75`` of the steps since the last checkpoint increased the loss, or (2) the
  step size was not reduced at the last checkpoint and the best loss has not improved since (a restart
  carries no momentum: the previous iterate is set to the best point too);
* the result is the best point (highest loss) over all iterates and over ``restarts`` runs: the first run
  starts at ``delta = 0`` (the clean point), each further run at a uniformly random point of the ball.

Each iteration is one forward and one backward pass; a run of ``N`` steps costs ``N + 1`` of them. Only
the perturbation receives gradients (``torch.autograd.grad``): the model's weights are never touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

ALPHA = 0.75  # momentum
RHO = 0.75  # share of loss-increasing steps below which the step size halves


class Ball(Protocol):
    """The set an attack may move in, around one batch: perturbations ``delta`` and their projection."""

    def zeros(self) -> Tensor: ...

    def project(self, delta: Tensor) -> Tensor: ...

    def ascent(self, grad: Tensor) -> Tensor:
        """The steepest-ascent step of size one radius for ``grad``."""

    def random(self, generator: torch.Generator) -> Tensor: ...


@dataclass
class Found:
    """The best perturbation of each sample and the loss there, with the loss at ``delta = 0``."""

    delta: Tensor
    loss: Tensor  # (B,)
    clean_loss: Tensor  # (B,)


def checkpoints(steps: int) -> set[int]:
    """The iterations at which APGD may halve its step size: ``ceil(p_j * steps)``, ``p_j`` as in the paper."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    marks = {math.ceil(round(q * steps, 9)) for q in p[1:]}  # round: 0.57 * 100 is 57.000000000000007
    return {m for m in marks if 0 < m < steps}


def _per_sample(v: Tensor, like: Tensor) -> Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


def _value_and_grad(loss_fn: Callable[[Tensor], Tensor], delta: Tensor) -> tuple[Tensor, Tensor]:
    delta = delta.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(delta).float()
        (grad,) = torch.autograd.grad(loss.sum(), delta)
    return loss.detach(), grad.detach()


def apgd(loss_fn: Callable[[Tensor], Tensor], ball: Ball, *, steps: int, restarts: int = 1,
         generator: torch.Generator | None = None) -> Found:
    """Maximise ``loss_fn(delta)`` (per sample, shape ``(B,)``) over ``ball``; see the module doc."""
    clean_loss, grad0 = _value_and_grad(loss_fn, ball.zeros())
    best, best_loss = ball.zeros(), clean_loss.clone()
    for run in range(max(restarts, 1)):
        if run == 0:
            start, loss, grad = ball.zeros(), clean_loss, grad0
        else:
            start = ball.random(generator or torch.Generator().manual_seed(run))
            loss, grad = _value_and_grad(loss_fn, start)
        delta, delta_loss = _run(loss_fn, ball, start, loss, grad, steps)
        better = delta_loss > best_loss
        best = torch.where(_per_sample(better, best), delta, best)
        best_loss = torch.where(better, delta_loss, best_loss)
    return Found(best.detach(), best_loss, clean_loss)


def _run(loss_fn: Callable[[Tensor], Tensor], ball: Ball, delta: Tensor, loss: Tensor, grad: Tensor,
         steps: int) -> tuple[Tensor, Tensor]:
    """One APGD run of ``steps`` iterations from ``delta``; returns the best point and its loss."""
    eta = torch.full_like(loss, 2.0)
    best, best_loss, best_grad = delta.clone(), loss.clone(), grad.clone()
    previous, increases, last = delta, torch.zeros_like(loss), 0
    best_at_last, reduced_last = best_loss.clone(), torch.zeros_like(loss, dtype=torch.bool)
    marks = checkpoints(steps)
    for k in range(steps):
        with torch.no_grad():
            u = ball.project(delta + _per_sample(eta, delta) * ball.ascent(grad))
            a = ALPHA if k > 0 else 1.0
            previous, delta = delta, ball.project(delta + a * (u - delta) + (1 - a) * (delta - previous))
        new_loss, grad = _value_and_grad(loss_fn, delta)
        increases += (new_loss > loss).float()
        loss = new_loss
        better = loss > best_loss
        best = torch.where(_per_sample(better, best), delta, best)
        best_grad = torch.where(_per_sample(better, best_grad), grad, best_grad)
        best_loss = torch.where(better, loss, best_loss)
        if k + 1 in marks:
            oscillating = increases < RHO * (k + 1 - last)
            stalled = ~reduced_last & (best_loss <= best_at_last)
            reduce = oscillating | stalled
            eta = torch.where(reduce, eta / 2, eta)
            delta = torch.where(_per_sample(reduce, delta), best, delta)
            previous = torch.where(_per_sample(reduce, previous), best, previous)  # no momentum across it
            grad = torch.where(_per_sample(reduce, grad), best_grad, grad)
            loss = torch.where(reduce, best_loss, loss)
            reduced_last, best_at_last, increases, last = reduce, best_loss.clone(), torch.zeros_like(loss), k + 1
    return best, best_loss
