"""APGD on toy losses: the paper's checkpoints, the bound, per-sample steps, restarts, no gradient to weights."""

from __future__ import annotations

import pytest
import torch

from unigame_core.errors import ConfigError
from unigame_core.testing import FakeBackend
from unigame_robustness.apgd import apgd, checkpoints
from unigame_robustness.threats import PixelBall, TokenBall, parse_eps


def test_checkpoints_follow_the_paper() -> None:
    # p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (Croce & Hein 2020, section 3.2)
    assert checkpoints(100) == {22, 41, 57, 70, 80, 87, 93, 99}
    assert checkpoints(1) == set() and checkpoints(10) == {3, 5, 6, 7, 8, 9}


def test_parse_eps_reads_fractions_sorts_and_refuses_nonsense() -> None:
    assert parse_eps(["4/255", "0", "2/255"], "s") == [("0", 0.0), ("2/255", 2 / 255), ("4/255", 4 / 255)]
    for bad in (["-1"], ["two"], ["1/0"], []):
        with pytest.raises(ConfigError, match="eps"):
            parse_eps(bad, "s")


def test_pixel_apgd_finds_the_best_corner_of_the_box_per_sample() -> None:
    x = torch.full((3, 3, 4, 4), 0.5)
    x[2] = 0.999  # the box [0, 1] cuts this sample's ball
    g = torch.Generator().manual_seed(0)
    target = torch.randn(3, 3, 4, 4, generator=g).sign() * (0.2 + torch.rand(3, 3, 4, 4, generator=g))  # outside
    ball = PixelBall(FakeBackend(), x, eps=0.1)
    found = apgd(lambda d: -((x + d - (x + target)) ** 2).flatten(1).sum(1), ball, steps=20)
    best = ball.project(target.clamp(-0.1, 0.1))  # the maximiser of this concave loss: a corner of the box
    assert torch.allclose(found.delta, best, atol=1e-5)
    adv = ball.image(found.delta)
    assert float((adv - x).abs().max()) <= 0.1 + 1e-6 and float(adv.max()) <= 1.0 and float(adv.min()) >= 0.0
    assert (found.loss >= found.clean_loss).all()


def test_eps_zero_leaves_the_images_exactly_as_they_were() -> None:
    x = torch.rand(2, 3, 4, 4)
    ball = PixelBall(FakeBackend(), x, eps=0.0)
    found = apgd(lambda d: (x + d).flatten(1).sum(1), ball, steps=5, restarts=2)
    assert torch.equal(ball.image(found.delta), x) and torch.equal(found.loss, found.clean_loss)


def test_restarts_never_lose_the_best_point() -> None:
    x = torch.zeros(4, 8)
    wiggly = lambda d: torch.sin(20 * d).sum(1)  # noqa: E731 many local maxima
    one = apgd(wiggly, PixelBall(FakeBackend(), x, 1.0), steps=4, restarts=1)
    more = apgd(wiggly, PixelBall(FakeBackend(), x, 1.0), steps=4, restarts=3,
                generator=torch.Generator().manual_seed(0))
    assert (more.loss >= one.loss - 1e-6).all()


def test_token_ball_respects_the_relative_bound_and_weights_get_no_gradient() -> None:
    backend = FakeBackend()
    backend.model.requires_grad_(True)  # even trainable weights must not receive a gradient
    before = {k: v.clone() for k, v in backend.model.state_dict().items()}
    x = torch.rand(2, 3, backend.image_size, backend.image_size)
    ball = TokenBall(backend, x, eps=0.2)
    und = backend.understander
    found = apgd(lambda d: und.answer_loss(und.embed_images(ball.image(d)), ["what color?"] * 2, ["red"] * 2),
                 ball, steps=4, restarts=2, generator=torch.Generator().manual_seed(1))
    assert float(ball.size(found.delta).max()) <= 0.2 * (1 + 1e-5)
    assert (found.loss > found.clean_loss).all()
    assert all(p.grad is None for p in backend.model.parameters())
    assert all(torch.equal(before[k], v) for k, v in backend.model.state_dict().items())
