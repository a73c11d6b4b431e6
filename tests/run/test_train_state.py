"""TrainState: what a checkpoint stores comes back equal on resume (the exact-resume tests are test_resume.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unigame_core.config import build_config
from unigame_core.run import runner
from unigame_core.run.train_state import TrainState
from unigame_core.testing import quick_overrides

ARGS = ("train.steps=4", "train.checkpoint_every=2", "buffer.tau=-1e9", "game.adversary_fraction=0.5")


def test_counters_round_trip_through_a_checkpoint_dict() -> None:
    state = TrainState(step=7, bad_in_row=2, skipped_images=3, mid_step=True)
    back = TrainState.from_checkpoint({**state.counters(), "opt_u": {}}, Path("run/checkpoints/step-7"))
    assert back == TrainState(step=7, bad_in_row=2, skipped_images=3, last_good=Path("run/checkpoints/step-7"))
    assert state.counters() == {"step": 7, "bad_in_row": 2, "skipped_images": 3}


def test_resume_state_equals_the_state_the_run_finished_in(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}
    real_finish = runner.finish

    def recording_finish(run, state, watchers, before):  # noqa: ANN001, ANN202
        real_finish(run, state, watchers, before)  # writes the last checkpoint
        p = run.players
        seen.update(state=TrainState(state.step, state.bad_in_row, state.skipped_images, state.last_good),
                    rng=p.generator.get_state(), draw=p.draw_generator.get_state(), buffer=p.buffer.state_dict(),
                    lr=run.schedulers.lora.get_last_lr(), perturber={k: v.clone() for k, v in
                                                                       p.perturber.state_dict().items()})

    monkeypatch.setattr(runner, "finish", recording_finish)
    cfg = build_config("fake-tiny", None, quick_overrides(tmp_path / "run", *ARGS))
    runner.run_training(cfg)
    assert seen["state"].step == 4 and seen["state"].last_good == tmp_path / "run" / "checkpoints" / "step-4"

    run = runner.setup(cfg, resume=True, overwrite=False)
    state = runner.resume_state(run, resume=True)
    assert state == seen["state"]
    p = run.players
    assert torch.equal(p.generator.get_state(), seen["rng"]) and torch.equal(p.draw_generator.get_state(), seen["draw"])
    assert run.schedulers.lora.get_last_lr() == seen["lr"]
    assert all(torch.equal(v, seen["perturber"][k]) for k, v in p.perturber.state_dict().items())
    saved, back = seen["buffer"], p.buffer.state_dict()
    assert saved.keys() == back.keys() and len(p.buffer) > 0
    for key in saved:
        a, b = saved[key], back[key]
        assert torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b, key
