"""Per-sample refinement (game/refine.py, adversary.refined): bounded, per-sample, ascending, gradient-isolated."""

from __future__ import annotations

import math

import pytest
import torch

from unigame_core.config import build_config
from unigame_core.game.adversary import encode, perturber_passes_, refined
from unigame_core.game.players import StepMetrics
from unigame_core.game.refine import ascent_step, bound_radius, project, refine
from unigame_core.interfaces import StepPlan, VQABatch
from unigame_core.lora import attach_lora
from unigame_core.run import build
from unigame_core.testing import FakeBackend, FakeSettings, quick_overrides

EPS = 0.3
PLAY = StepPlan(adversary_updates=1, mine=True, eps_scale=1.0, beta=1.0)


def test_projection_keeps_every_token_inside_its_own_ball() -> None:
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(2, 5, 4, generator=g)
    radius = bound_radius(clean, EPS)
    assert radius.shape == (2, 5, 1)
    assert torch.allclose(radius.squeeze(-1), EPS * clean.norm(dim=-1))
    delta = 10 * torch.randn(2, 5, 4, generator=g)
    out = project(delta, radius)
    assert torch.allclose(out.norm(dim=-1), radius.squeeze(-1), rtol=1e-5)  # outside: onto the sphere
    inside = 0.1 * radius * delta / delta.norm(dim=-1, keepdim=True)
    assert torch.equal(project(inside, radius), inside)  # inside: untouched
    # one normalised step moves every token by step * radius_i (from 0, before the projection bites)
    step = ascent_step(torch.zeros_like(clean), torch.randn(2, 5, 4, generator=g), radius, 0.5)
    assert torch.allclose(step.norm(dim=-1), 0.5 * radius.squeeze(-1), rtol=1e-5)


def test_refine_ascends_a_per_sample_objective_and_each_sample_sees_only_its_own() -> None:
    target = torch.tensor([[[1.0, 0.0]], [[0.0, -1.0]]])  # sample b's objective: alignment with its own target
    clean = torch.tensor([[[2.0, 0.0]], [[0.0, 2.0]]])
    radius = bound_radius(clean, 0.5)  # 1.0 per token

    def objective(delta: torch.Tensor) -> torch.Tensor:
        return (delta * target).sum(dim=(-1, -2))

    out = refine(torch.zeros_like(clean), objective, radius, steps=3, step=0.5)
    assert not out.requires_grad
    assert torch.allclose(out, target, atol=1e-6)  # each sample went its own way, to its own bound
    assert bool((objective(out) > objective(torch.zeros_like(clean))).all())
    given = torch.tensor([[[0.0, 1.0]], [[1.0, 0.0]]])  # a first gradient handed in replaces the first backward
    first = refine(torch.zeros_like(clean), objective, radius, steps=1, step=0.5, first_grad=given)
    assert torch.allclose(first, 0.5 * given)


def _players(coupling: str, steps: int, lambda_reg: float = 1e-4):
    torch.manual_seed(0)
    backend = FakeBackend(FakeSettings(), "cpu")
    cfg = build_config("fake-tiny", None, quick_overrides(
        "unused", f"game.coupling={coupling}", f"game.eps_max={EPS}", f"game.refine_steps={steps}",
        "game.adversary_fraction=1.0", f"game.lambda_reg={lambda_reg}", "gate.name=none"))
    _, lora = attach_lora(backend, 4, 8, 0.0)
    players, _ = build.build_players(cfg, backend, lora, torch.device("cpu"))
    return players


def _batch(n: int = 4) -> VQABatch:
    g = torch.Generator().manual_seed(2)
    return VQABatch(torch.rand(n, 3, 16, 16, generator=g), [f"q{i}" for i in range(n)],
                    ["yes" if i % 2 else "no" for i in range(n)], [str(i) for i in range(n)])


@pytest.mark.parametrize("coupling", ["decoder", "decoder-pgd", "embedding"])
def test_refinement_raises_the_ce_over_its_start_within_the_bound(fake_plugin: None, coupling: str) -> None:
    p = _players(coupling, steps=3)
    turn = encode(p, _batch())
    m = StepMetrics(eps=EPS)
    start = perturber_passes_(p, turn, PLAY, m)
    final = refined(p, turn, start, EPS)
    assert start is not None and final is not None and final is not start
    assert float(final.ce.mean()) > float(start.ce.mean()) + 1e-4  # refinement ascends the CE (fixed seed)
    assert turn.clean is not None
    limit = EPS * turn.clean.float().norm(dim=-1) * (1 + 1e-5)
    assert bool((final.delta.norm(dim=-1) <= limit).all())  # every refined delta respects its bound
    assert float(final.delta.norm(dim=-1).mean()) > 0.5 * float(limit.mean())  # and used it


def test_without_refinement_the_final_sample_is_the_perturbers(fake_plugin: None) -> None:
    p = _players("decoder", steps=0)
    turn = encode(p, _batch())
    start = perturber_passes_(p, turn, PLAY, StepMetrics(eps=EPS))
    assert start is not None and start.ascent is None  # no refinement: no gradient w.r.t. delta is taken
    assert refined(p, turn, start, EPS) is start


def test_the_adversary_turn_gives_the_perturber_its_own_gradient_and_lora_none(fake_plugin: None) -> None:
    p = _players("decoder", steps=3)
    assert p.perturber is not None
    before = [q.detach().clone() for q in p.perturber.parameters()]
    lora_before = [q.detach().clone() for q in p.lora_params]
    turn = encode(p, _batch())
    m = StepMetrics(eps=EPS)
    start = perturber_passes_(p, turn, PLAY, m)
    refined(p, turn, start, EPS)
    assert any(not torch.equal(a, q) for a, q in zip(before, p.perturber.parameters()))  # the perturber learned
    assert all(q.grad is None for q in p.perturber.parameters())  # its gradient was consumed and cleared
    assert all(q.grad is None for q in p.lora_params)  # LoRA received nothing from the adversary
    assert all(torch.equal(a, q) for a, q in zip(lora_before, p.lora_params))
    assert start is not None and start.ascent is not None and math.isfinite(float(start.ascent.norm()))


def test_refinement_config_keys_are_validated_in_one_sentence() -> None:
    from unigame_core.errors import ConfigError

    for key, bad, words in [("refine_steps", -1, "in \\[0, 100\\]"), ("refine_step", 0.0, "in \\(0, 2\\]"),
                            ("lambda_adv", 0.0, "positive")]:
        with pytest.raises(ConfigError, match=f"'game.{key}': must be {words}"):
            build_config(None, None, [f"game.{key}={bad}"])
    with pytest.raises(ConfigError, match="game.refine_steps"):
        build_config(None, None, ["game.refine_steps=three"])


def test_a_large_lambda_reg_warns_once_what_it_does(caplog: pytest.LogCaptureFixture) -> None:
    cfg = build_config(None, None, ["game.lambda_reg=80"])
    with caplog.at_level("WARNING"):
        build.game_settings(cfg)
    assert [r.getMessage() for r in caplog.records if "lambda_reg" in r.getMessage()] == [
        next(r.getMessage() for r in caplog.records if "lambda_reg" in r.getMessage())]
    assert "game.lambda_adv" in caplog.text and "near zero" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        build.game_settings(build_config(None, None, []))
    assert "lambda_reg" not in caplog.text
