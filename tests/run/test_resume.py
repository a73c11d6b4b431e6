"""Exact resume: an interrupted run continued from its checkpoint equals an uninterrupted one; checkpoints hold
no pickle; non-finite streaks and divergence leave the run directory honest."""

from __future__ import annotations

import json
import logging
import pickle
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from unigame_core.config import build_config
from unigame_core.errors import DataError, TrainingAborted
from unigame_core.game import step as step_module
from unigame_core.run import checkpoint, runner
from unigame_core.run.watch import DivergenceWatch
from unigame_core.testing import quick_overrides

# refinement on (explicitly: the resume must stay exact through the adversary's per-sample ascent steps)
ARGS = ("train.steps=6", "train.checkpoint_every=3", "buffer.tau=-1e9", "game.adversary_fraction=0.5",
        "game.refine_steps=3")


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def losses(run: Path) -> dict[int, float]:
    return {r["step"]: r["loss_u"] for r in rows(run)}


def assert_same_weights(a: Path, b: Path) -> None:
    for name in ("adapter/adapter_model.safetensors", "perturber.safetensors"):
        wa, wb = load_file(str(a / name)), load_file(str(b / name))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name


@pytest.mark.slow
def test_ctrl_c_mid_step_resumes_exactly(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    straight = tmp_path / "straight"
    runner.run_training(build_config("fake-tiny", None, quick_overrides(straight, *ARGS)))

    broken = tmp_path / "broken"
    real_turn = step_module.understander_turn_
    calls = {"n": 0}

    def ctrl_c_in_fifth_step(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 5:  # after the adversary has played step 5, before the understander has
            signal.raise_signal(signal.SIGINT)
        return real_turn(*args, **kwargs)

    monkeypatch.setattr(step_module, "understander_turn_", ctrl_c_in_fifth_step)
    with caplog.at_level(logging.WARNING), pytest.raises(KeyboardInterrupt):
        runner.run_training(build_config("fake-tiny", None, quick_overrides(broken, *ARGS)))
    assert (broken / "checkpoints" / "step-5" / "state.json").exists()  # the step in flight was finished first
    assert not (broken / "adapter").exists()
    assert f"unigame train --resume {broken}" in caplog.text  # the exact command to continue
    monkeypatch.setattr(step_module, "understander_turn_", real_turn)
    runner.run_training(build_config("fake-tiny", None, quick_overrides(broken, *ARGS)), resume=True)

    assert [r["step"] for r in rows(broken)] == [1, 2, 3, 4, 5, 6]
    played = [r for r in rows(straight) if r["ce_adv"] is not None and r["ce_start"] is not None]
    assert played and all(r["ce_adv"] > r["ce_start"] for r in played)  # the refinement played in these steps
    assert losses(straight) == losses(broken)  # bit-identical losses after the resume, too
    assert_same_weights(straight, broken)


def test_second_ctrl_c_stops_at_once_without_a_half_played_checkpoint(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_turn = step_module.understander_turn_
    calls = {"n": 0}

    def two_ctrl_c(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 5:
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)
        return real_turn(*args, **kwargs)

    monkeypatch.setattr(step_module, "understander_turn_", two_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        runner.run_training(build_config("fake-tiny", None, quick_overrides(tmp_path, *ARGS)))
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["step-3"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is put back


def test_metrics_are_not_repeated_after_a_resume(fake_plugin: None, tmp_path: Path) -> None:
    args = quick_overrides(tmp_path, "train.steps=4", "train.checkpoint_every=2", "train.keep_checkpoints=5")
    runner.run_training(build_config("fake-tiny", None, args))
    import shutil

    shutil.rmtree(tmp_path / "checkpoints" / "step-4")  # a crash after step 4 was logged, before its checkpoint
    runner.run_training(build_config("fake-tiny", None, args), resume=True)
    assert [r["step"] for r in rows(tmp_path)] == [1, 2, 3, 4]


def test_checkpoint_state_round_trips_without_pickle(tmp_path: Path) -> None:
    param = torch.nn.Parameter(torch.randn(3, 2))
    opt = torch.optim.AdamW([param], lr=1e-2)
    param.grad = torch.randn(3, 2)
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 ** s)
    runner.advance_schedules(sched)
    np.random.rand(3)
    state = {"step": 7, "bad_in_row": 0, "opt_u": opt.state_dict(), "sched_u": sched.state_dict(), "opt_c": None,
             "rng": [checkpoint.rng_state(torch.Generator().manual_seed(3))], "texts": ["a", "b"],
             "nan": float("nan"), "__odd": 1}
    checkpoint.save_state(state, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.safetensors"]
    back = checkpoint.load_state(tmp_path)
    assert back["step"] == 7 and back["texts"] == ["a", "b"] and back["nan"] != back["nan"] and back["__odd"] == 1
    assert back["opt_u"]["state"].keys() == {0}  # integer keys stay integers
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(back["opt_u"]["state"][0][key], state["opt_u"]["state"][0][key])
    assert back["opt_u"]["param_groups"] == state["opt_u"]["param_groups"]
    assert back["sched_u"] == state["sched_u"]
    rng, saved = back["rng"][0], state["rng"][0]
    assert rng["python"] == saved["python"] and torch.equal(rng["torch"], saved["torch"])
    assert rng["numpy"][0] == "MT19937" and np.array_equal(rng["numpy"][1], saved["numpy"][1])
    assert rng["numpy"][1].dtype == np.uint32 and rng["numpy"][2:] == saved["numpy"][2:]
    checkpoint.restore_rng(rng, torch.Generator())  # accepted by python, numpy and torch as they are


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - what a crafted pickle does on load: call anything
        return (Path.touch, (self.marker,))


def test_a_pickled_state_in_a_run_directory_is_never_loaded(fake_plugin: None, tmp_path: Path) -> None:
    run, marker = tmp_path / "run", tmp_path / "code-ran"
    args = quick_overrides(run, "train.steps=2", "train.checkpoint_every=1")
    runner.run_training(build_config("fake-tiny", None, args))
    for folder in (run / "checkpoints").iterdir():  # an old-format (or crafted) run directory: state.pt only
        (folder / "state.json").unlink()
        (folder / "state.safetensors").unlink()
        (folder / "state.pt").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(DataError, match="pickled state.pt, which unigame does not load"):
        runner.run_training(build_config("fake-tiny", None, args), resume=True)
    assert not marker.exists()


def test_checkpoints_during_a_non_finite_streak_keep_the_last_good_one(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_step = step_module.game_step
    calls = {"n": 0}

    def poisoned_from_third(players, batch, plan):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] >= 3:
            batch.images.mul_(float("nan"))
        return real_step(players, batch, plan)

    monkeypatch.setattr(runner, "game_step", poisoned_from_third)
    cfg = build_config("fake-tiny", None, quick_overrides(
        tmp_path, "train.steps=10", "train.max_bad_steps=3", "train.checkpoint_every=1", "train.keep_checkpoints=1"))
    with pytest.raises(TrainingAborted, match="3 steps in a row had non-finite losses") as info:
        runner.run_training(cfg)
    good = tmp_path / "checkpoints" / "step-2"
    assert str(good) in str(info.value) and good.is_dir()  # the message names a checkpoint that exists
    assert [p.name for p in checkpoint.list_checkpoints(tmp_path)] == ["step-2"]
    assert [r["skipped_updates"] > 0 for r in rows(tmp_path)] == [False, False, True, True, True]


def test_a_finite_but_diverging_run_is_flagged(
    fake_plugin: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sane, wild = tmp_path / "sane", tmp_path / "wild"
    runner.run_training(build_config("fake-tiny", None, quick_overrides(sane, "train.steps=3")))
    with caplog.at_level(logging.WARNING):
        runner.run_training(build_config("fake-tiny", None,
                                         quick_overrides(wild, "train.steps=3", "optim.lr_lora=1e6")))
    assert not (sane / "divergence.json").exists()
    verdict = json.loads((wild / "divergence.json").read_text())
    assert verdict["step"] == 1 and "LoRA weight norm grew" in verdict["reason"]
    assert "DIVERGED" in caplog.text and str(wild / "adapter") in caplog.text


def test_the_divergence_watch_flags_a_sustained_ce_blow_up_only() -> None:
    watch = DivergenceWatch(early_steps=3, window=4)
    for step, ce in enumerate([2.0, 1.8, 1.9, 1.5, 9.0, 1.4, 9.0, 9.0, 9.0], start=1):  # one spike, then 3 high
        assert watch.observe(step, ce, 1.0) is None
    verdict = watch.observe(10, 9.0, 1.0)  # the 4th high step in a row
    assert verdict is not None and verdict["step"] == 10 and "clean CE" in verdict["reason"]
    assert watch.observe(11, 9.0, 1.0) is None  # reported once


def test_nan_losses_stop_training_with_a_clear_message(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_step = step_module.game_step

    def poisoned(players, batch, plan):  # noqa: ANN001, ANN202
        batch.images.mul_(float("nan"))
        return real_step(players, batch, plan)

    monkeypatch.setattr(runner, "game_step", poisoned)
    cfg = build_config("fake-tiny", None, quick_overrides(tmp_path, "train.steps=10", "train.max_bad_steps=3"))
    with pytest.raises(TrainingAborted, match="3 steps in a row had non-finite losses.*No checkpoint was written"):
        runner.run_training(cfg)
    assert [r["skipped_updates"] > 0 for r in rows(tmp_path)] == [True, True, True]


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


def damage(step: Path, how: str) -> str:
    """Break checkpoint ``step`` the way a crash, a full disk or a hand can; what the warning must say."""
    if how == "truncated state":
        data = (step / "state.safetensors").read_bytes()
        (step / "state.safetensors").write_bytes(data[: len(data) // 2])
        return "state.safetensors is unreadable"
    if how == "no adapter":
        (step / "adapter" / "adapter_model.safetensors").unlink()
        return "adapter/adapter_model.safetensors is missing"
    if how == "bad json":
        (step / "state.json").write_text('{"step": ')
        return "state.json is not valid JSON"
    raise AssertionError(how)


def test_resume_falls_back_past_damaged_checkpoints_to_the_newest_intact_one(
    fake_plugin: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = quick_overrides(tmp_path, "train.steps=3", "train.checkpoint_every=1", "train.keep_checkpoints=5",
                           "train.loggers=[]")
    runner.run_training(build_config("fake-tiny", None, args))
    root = tmp_path / "checkpoints"
    says = [damage(root / f"step-{n}", how) for n, how in ((3, "truncated state"), (2, "bad json"))]
    (root / ".tmp-step-9").mkdir()  # a checkpoint a killed run was writing
    with caplog.at_level(logging.INFO):
        runner.run_training(build_config("fake-tiny", None, args), resume=True)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for n, said in zip((3, 2), says):
        assert any(f"Checkpoint '{root / f'step-{n}'}' is damaged: {said}" in w and "step 1" in w
                   for w in warnings), (said, warnings)
    assert "resuming from" in caplog.text and str(root / "step-1") in caplog.text
    assert [r["step"] for r in rows(tmp_path)] == [1, 2, 3]  # steps 2 and 3 played again from step 1
    assert not (root / ".tmp-step-9").exists()
    assert all(checkpoint.read_checkpoint(root / f"step-{n}", perturber=True) for n in (1, 2, 3))  # rewritten


def test_resume_without_an_intact_checkpoint_stops_listing_each(fake_plugin: None, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from unigame_core.cli.main import app

    args = quick_overrides(tmp_path, "train.steps=2", "train.checkpoint_every=1", "train.keep_checkpoints=5",
                           "train.loggers=[]")
    runner.run_training(build_config("fake-tiny", None, args))
    says = [damage(tmp_path / "checkpoints" / f"step-{n}", how) for n, how in ((2, "no adapter"),
                                                                               (1, "truncated state"))]
    metrics = (tmp_path / "metrics.jsonl").read_text()
    result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in result.output and text.count("error:") == 1, result.output
    assert f"No checkpoint in '{tmp_path / 'checkpoints'}' can be resumed from" in text, text
    assert f"step-2 is damaged: {says[0]}" in text and f"step-1 is damaged: {says[1]}" in text, text
    assert "--overwrite" in text and (tmp_path / "metrics.jsonl").read_text() == metrics  # nothing touched


def test_resume_at_or_past_train_steps_says_it_trains_nothing_more(
    fake_plugin: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = quick_overrides(tmp_path, "train.steps=3", "train.checkpoint_every=1", "train.keep_checkpoints=5",
                           "train.loggers=[]")
    runner.run_training(build_config("fake-tiny", None, args))
    with caplog.at_level(logging.WARNING):
        runner.run_training(build_config("fake-tiny", None, [*args, "train.steps=2"]), resume=True)
    said = [r.getMessage() for r in caplog.records if "train.steps" in r.getMessage()]
    assert len(said) == 1 and "already played 3 steps" in said[0] and "train.steps=2" in said[0], said
    assert "nothing is left to train" in said[0] and "step 3" in said[0]
    assert [r["step"] for r in rows(tmp_path)] == [1, 2, 3] and (tmp_path / "adapter").is_dir()


def test_a_zero_learning_rate_is_one_warning(
    fake_plugin: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from unigame_core.run import build

    params = [torch.nn.Parameter(torch.zeros(2))]
    perturber = torch.nn.Linear(2, 2)
    for zero, names in ((("optim.lr_lora=0",), "optim.lr_lora"), (("optim.lr_lora=0", "optim.lr_perturber=0.0"),
                                                                   "optim.lr_lora and optim.lr_perturber")):
        caplog.clear()
        cfg = build_config("fake-tiny", None, quick_overrides(tmp_path, *zero))
        with caplog.at_level(logging.WARNING):
            build.optimizers(cfg, params, perturber)
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 1 and said[0].startswith(f"{names} ") and "never" in said[0], said
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build.optimizers(build_config("fake-tiny", None, quick_overrides(tmp_path)), params, perturber)
    assert not caplog.records
