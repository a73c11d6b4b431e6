from __future__ import annotations

import pytest
import torch

from unigame_core.game.perturber import Perturber, random_perturbation


@pytest.mark.parametrize("bound", ["radial", "direction"])
def test_bound_holds_even_for_huge_weights(bound: str) -> None:
    torch.manual_seed(0)
    p = Perturber(8, hidden=16, depth=3, bound=bound)
    with torch.no_grad():
        for w in p.parameters():
            w.mul_(1000.0).add_(3.0)
    z = torch.nn.functional.normalize(torch.randn(4, 10, 8), dim=-1) * 3.0  # tokens of norm 3
    _, delta = p(z, eps=0.02)
    assert (delta.norm(dim=-1) <= 0.02 * 3.0 + 1e-6).all()


def test_starts_near_zero_and_is_three_layers_by_default() -> None:
    torch.manual_seed(0)
    p = Perturber(8)
    linears = [m for m in p.net if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3
    z = torch.nn.functional.normalize(torch.randn(2, 5, 8), dim=-1)
    z_adv, delta = p(z, eps=0.02)
    assert delta.norm(dim=-1).max() < 0.02 * 0.05
    assert torch.allclose(z_adv, z + delta)


def test_gradient_reaches_every_parameter() -> None:
    p = Perturber(8, bound="direction")
    z = torch.randn(2, 5, 8)
    _, delta = p(z, eps=0.1)
    delta.sum().backward()
    assert all(q.grad is not None and q.grad.abs().sum() > 0 for q in p.parameters())


def test_random_perturbation_is_bounded_and_reproducible() -> None:
    z = torch.randn(3, 7, 4)
    a = random_perturbation(z, 0.1, torch.Generator().manual_seed(1))
    b = random_perturbation(z, 0.1, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert ((a - z).norm(dim=-1) <= 0.1 * z.norm(dim=-1) + 1e-6).all()
    assert (a - z).abs().sum() > 0
