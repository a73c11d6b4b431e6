from __future__ import annotations

import torch

from unigame_core.game.buffer import HardBuffer
from unigame_core.game.settings import HardBufferConfig
from unigame_core.interfaces import HardSamples


def samples(hardness: list[float], tag: str = "") -> HardSamples:
    n = len(hardness)
    images = torch.stack([torch.full((3, 4, 4), i / 10) for i in range(n)])
    return HardSamples(
        images, [f"q{tag}{i}" for i in range(n)], [f"a{tag}{i}" for i in range(n)], torch.tensor(hardness)
    )


def test_absolute_threshold_and_per_sample_labels() -> None:
    buf = HardBuffer(HardBufferConfig(capacity=10, tau_mode="absolute", tau=1.0, storage="float32"))
    assert buf.push(samples([0.5, 2.0, 1.0, 0.9])) == 2
    assert sorted(buf.questions) == ["q1", "q2"]
    for q, a, img in zip(buf.questions, buf.answers, buf.images[: len(buf)]):
        i = int(q[1:])
        assert a == f"a{i}"  # each image keeps its OWN question and answer
        assert torch.allclose(img, torch.full((3, 4, 4), i / 10))


def test_capacity_keeps_the_hardest() -> None:
    buf = HardBuffer(HardBufferConfig(capacity=3, tau_mode="absolute", tau=0.0))
    buf.push(samples([1.0, 2.0, 3.0], "x"))
    buf.push(samples([0.5, 5.0], "y"))
    assert sorted(buf.hardness.tolist()) == [2.0, 3.0, 5.0]
    assert "qy1" in buf.questions and "qx0" not in buf.questions


def test_fifo_replaces_the_oldest() -> None:
    buf = HardBuffer(HardBufferConfig(capacity=2, tau_mode="absolute", tau=-1e9, policy="fifo"))
    buf.push(samples([9.0, 8.0], "old"))
    buf.push(samples([0.1], "new"))
    assert sorted(buf.questions) == ["qnew0", "qold1"]  # the oldest (qold0) left, though it was the hardest


def test_running_quantile_threshold() -> None:
    buf = HardBuffer(HardBufferConfig(capacity=100, tau_mode="quantile", quantile=0.75))
    admitted = buf.push(samples([float(i) for i in range(8)]))
    assert buf.threshold == torch.quantile(torch.arange(8.0), 0.75).item()
    assert admitted == 2  # 6 and 7 are >= 5.25


def test_priority_sampling_prefers_hard_samples() -> None:
    buf = HardBuffer(HardBufferConfig(capacity=10, tau_mode="absolute", tau=-1.0, temperature=0.5))
    buf.push(samples([0.0, 0.0, 0.0, 4.0]))
    g = torch.Generator().manual_seed(0)
    hits = sum("q3" in buf.draw(1, g)[0].questions for _ in range(200))
    assert hits > 180  # exp(8) / (3 + exp(8)) ~ 0.999
    uniform = HardBuffer(HardBufferConfig(capacity=10, tau_mode="absolute", tau=-1.0, temperature=0.0))
    uniform.push(samples([0.0, 0.0, 0.0, 4.0]))
    hits = sum("q3" in uniform.draw(1, g)[0].questions for _ in range(400))
    assert 60 < hits < 140


def test_draw_empty_and_state_round_trip() -> None:
    cfg = HardBufferConfig(capacity=4, tau_mode="absolute", tau=0.0, storage="uint8")
    buf = HardBuffer(cfg)
    assert buf.draw(2, torch.Generator()) is None
    buf.push(samples([1.0, 2.0, 3.0]))
    other = HardBuffer(cfg)
    other.load_state_dict(buf.state_dict())
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, wa = buf.draw(2, g1)
    b, wb = other.draw(2, g2)
    assert a.questions == b.questions and torch.equal(a.images, b.images) and torch.equal(wa, wb)
    assert a.images.dtype == torch.float32 and a.images.max() <= 1.0
