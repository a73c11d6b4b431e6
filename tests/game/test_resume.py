"""Exact resume: an interrupted run continued from its checkpoint equals an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unigame_core.config import build_config
from unigame_core.game import runner
from unigame_core.game import step as step_module
from unigame_core.testing import quick_overrides

ARGS = ("train.steps=6", "train.checkpoint_every=3", "buffer.tau=-1e9", "game.adversary_fraction=0.5")


def losses(run: Path) -> dict[int, float]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss_u"] for r in rows}


def test_interrupt_then_resume_matches_uninterrupted(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight = tmp_path / "straight"
    runner.run_training(build_config("fake-tiny", None, quick_overrides(straight, *ARGS)))

    broken = tmp_path / "broken"
    real_step = step_module.game_step
    calls = {"n": 0}

    def interrupt_on_fifth(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(runner, "game_step", interrupt_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        runner.run_training(build_config("fake-tiny", None, quick_overrides(broken, *ARGS)))
    assert (broken / "checkpoints" / "step-4" / "state.pt").exists()  # Ctrl-C saved where it stopped
    assert not (broken / "adapter").exists()
    monkeypatch.setattr(runner, "game_step", real_step)
    runner.run_training(build_config("fake-tiny", None, quick_overrides(broken, *ARGS)), resume=True)

    a, b = losses(straight), losses(broken)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5, 6]
    assert a == b  # bit-identical losses after the resume, too
    wa = load_file(str(straight / "adapter" / "adapter_model.safetensors"))
    wb = load_file(str(broken / "adapter" / "adapter_model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    pa = load_file(str(straight / "perturber.safetensors"))
    pb = load_file(str(broken / "perturber.safetensors"))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)


def test_nan_losses_stop_training_with_a_clear_message(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unigame_core.errors import TrainingAborted

    real_step = step_module.game_step

    def poisoned(players, batch, plan):  # noqa: ANN001, ANN202
        batch.images.mul_(float("nan"))
        return real_step(players, batch, plan)

    monkeypatch.setattr(runner, "game_step", poisoned)
    cfg = build_config("fake-tiny", None, quick_overrides(tmp_path, "train.steps=10", "train.max_bad_steps=3"))
    with pytest.raises(TrainingAborted, match="3 steps in a row had non-finite losses"):
        runner.run_training(cfg)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_updates"] > 0 for r in rows] == [True, True, True]


def test_schedules_follow_the_step_count_without_torch_warnings_when_updates_are_skipped() -> None:
    import warnings

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        runner.advance_schedules(sched, None)  # the optimizer has not stepped yet (a skipped first update)
        runner.advance_schedules(sched)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0 / 3)
    with pytest.warns(UserWarning, match="Detected call of"):  # what torch says without the helper
        torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                                          lambda s: 1.0).step()
