from __future__ import annotations

import torch

from unigame_core.game.gates import NoGate, TokenCosineGate
from unigame_core.game.schedule import AlternatingSchedule
from unigame_core.game.settings import AlternatingConfig, CosineGateConfig
from unigame_core.interfaces import GateInput


def test_schedule_stride_and_warmups() -> None:
    s = AlternatingSchedule(
        AlternatingConfig(adversary_updates=2, mine_every=3, eps_warmup=4, beta_warmup=2, start_step=1),
        beta=0.5,
        total_steps=20,
    )
    p0 = s.plan(0)
    assert (p0.adversary_updates, p0.mine, p0.eps_scale, p0.beta) == (0, False, 0.0, 0.0)
    p1 = s.plan(1)
    assert p1.adversary_updates == 2 and p1.mine and p1.eps_scale == 0.25 and p1.beta == 0.25
    assert s.plan(2).adversary_updates == 0 and s.plan(4).adversary_updates == 2
    assert s.plan(10).eps_scale == 1.0 and s.plan(10).beta == 0.5


def test_cosine_gate_discards_below_threshold() -> None:
    z = torch.nn.functional.normalize(torch.randn(3, 6, 8), dim=-1)
    adv = z.clone()
    adv[1] = -z[1]  # meaning flipped
    adv[2] = torch.nn.functional.normalize(z[2] + 0.3 * torch.randn(6, 8), dim=-1)
    gate = TokenCosineGate(CosineGateConfig(threshold=0.8))
    pix = torch.rand(3, 3, 4, 4)
    result = gate.check(GateInput(pix, pix, z, adv, ["t"] * 3))
    assert result.keep.tolist()[:2] == [True, False]
    assert torch.allclose(result.score[0], torch.tensor(1.0))
    assert result.keep[2] == (result.score[2] >= 0.8)


def test_no_gate_keeps_everything() -> None:
    pix = torch.rand(5, 3, 4, 4)
    assert NoGate().check(GateInput(pix, pix, None, None, [""] * 5)).keep.all()
