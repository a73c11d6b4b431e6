"""Metric loggers: TensorBoard events by default, wandb / MLflow / trackio chosen by train.loggers (fakes here),
names and packages checked before anything loads, plain progress lines when the output is piped."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from unigame_core import hookimpl, plugins
from unigame_core.cli.main import app
from unigame_core.registry import Registry
from unigame_core.report.monitor import MetricLogger, Monitor, scalars_of
from unigame_core.testing import quick_overrides

runner = CliRunner()


def metrics_rows(run: Path) -> dict[int, dict[str, Any]]:
    return {r["step"]: r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())}


def tensorboard_scalars(run: Path) -> dict[str, dict[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}


def test_default_train_writes_tensorboard_events_with_the_logged_scalars(fake_plugin: None, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = quick_overrides(run, "train.steps=4", "train.log_every=2", "buffer.tau=-1e9")
    result = runner.invoke(app, ["train", "--model", "fake-tiny", *args])
    assert result.exit_code == 0, result.output

    scalars, rows = tensorboard_scalars(run), metrics_rows(run)
    assert sorted(rows) == [2, 4]
    for tag, key in [("loss/loss_u", "loss_u"), ("loss/ce_clean", "ce_clean"), ("game/ce_adv", "ce_adv"),
                     ("game/gate_pass", "gate_pass"), ("game/buffer", "buffer"), ("game/delta_norm", "delta_norm"),
                     ("game/eps", "eps"), ("system/samples_per_s", "samples_per_s")]:
        assert scalars[tag] == pytest.approx({s: r[key] for s, r in rows.items()}, rel=1e-6), tag
    hardness = {s: sum(r["hardness"]) / len(r["hardness"]) for s, r in rows.items()}
    assert scalars["game/hardness_mean"] == pytest.approx(hardness, rel=1e-6)

    # piped output (CliRunner is not a terminal): one plain line per log_every steps, not one bar at the end
    lines = [line for line in result.output.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/4", "4/4"]
    assert all("loss_u=" in line and "samples/s" in line and "ETA" in line for line in lines)


@pytest.mark.slow  # a 4-step run: about 4 s on a quiet CPU
def test_the_learning_rates_are_logged_every_logged_step(fake_plugin: None, tmp_path: Path) -> None:
    """``lr_lora`` and ``lr_perturber``: the rates the next update uses (the schedules' warmup and decay visible)."""
    from unigame_core.run.build import lr_lambda

    run = tmp_path / "run"
    args = quick_overrides(run, "train.steps=4", "optim.warmup_steps=2", "optim.scheduler=cosine",
                           "optim.lr_lora=1e-2", "optim.lr_perturber=3e-3")
    result = runner.invoke(app, ["train", "--model", "fake-tiny", *args])
    assert result.exit_code == 0, result.output
    factor = lr_lambda(2, 4, "cosine")
    rows, scalars = metrics_rows(run), tensorboard_scalars(run)
    for step in (1, 2, 3):
        assert rows[step]["lr_lora"] == pytest.approx(1e-2 * factor(step))
        assert rows[step]["lr_perturber"] == pytest.approx(3e-3 * factor(step))
    assert scalars["optim/lr_lora"] == pytest.approx({s: r["lr_lora"] for s, r in rows.items()}, rel=1e-6)
    assert scalars["optim/lr_perturber"] == pytest.approx({s: r["lr_perturber"] for s, r in rows.items()}, rel=1e-6)
    assert rows[1]["lr_lora"] > rows[3]["lr_lora"] > 0  # warmup over, then cosine decay


def test_a_resumed_run_keeps_one_tensorboard_value_per_step(fake_plugin: None, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = quick_overrides(run, "train.steps=3", "train.checkpoint_every=2", "buffer.tau=-1e9")
    assert runner.invoke(app, ["train", "--model", "fake-tiny", *args]).exit_code == 0
    # drop the final checkpoint: the resume replays step 3 from the step-2 checkpoint
    import shutil

    shutil.rmtree(run / "checkpoints" / "step-3")
    result = runner.invoke(app, ["train", "--resume", str(run), "train.steps=4"])
    assert result.exit_code == 0, result.output
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) == 2
    assert sorted(tensorboard_scalars(run)["loss/loss_u"]) == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("loggers", "message"),
    [("[tensorbord]", "unknown logger 'tensorbord'. Did you mean 'tensorboard'?"),
     ("[tensorboard,tensorboard]", "'tensorboard' is listed twice"),
     ("[tensorboard,wandb]", "needs the 'wandb' package, which is not installed: pip install 'unigame[wandb]'"),
     ("[mlflow]", "pip install 'unigame[mlflow]'"),
     ("[trackio]", "pip install 'unigame[trackio]'")],
)
def test_bad_logger_choices_fail_before_anything_loads(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, loggers: str, message: str
) -> None:
    real_find_spec = importlib.util.find_spec
    absent = {"wandb", "mlflow", "trackio"}  # as in CI, whatever this machine has
    for name in absent:
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n in absent else real_find_spec(n, *a))
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", "--model", "fake-tiny", *quick_overrides(run, f"train.loggers={loggers}")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
    assert not run.exists()  # nothing loaded, nothing written


class FakeService:
    """Stands in for wandb / mlflow / trackio (not installed in CI): records what the logger calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def logged(self) -> dict[int, dict[str, float]]:
        return {args[1]: args[0] for name, args in self.calls if name == "log"}


def fake_wandb(service: FakeService) -> types.ModuleType:
    module = types.ModuleType("wandb")

    class Run:
        id = "run-abc"

        def log(self, scalars: dict[str, float], step: int) -> None:
            service.calls.append(("log", (scalars, step)))

        def finish(self) -> None:
            service.calls.append(("finish", None))

    def init(**kwargs: Any) -> Run:
        service.calls.append(("init", kwargs))
        return Run()

    module.init = init  # type: ignore[attr-defined]
    return module


def fake_mlflow(service: FakeService) -> types.ModuleType:
    module = types.ModuleType("mlflow")
    module.start_run = lambda **kw: (service.calls.append(("start_run", kw)),  # type: ignore[attr-defined]
                                     types.SimpleNamespace(info=types.SimpleNamespace(run_id="ml-1")))[1]
    module.log_params = lambda params: service.calls.append(("params", params))  # type: ignore[attr-defined]
    module.log_metrics = lambda m, step: service.calls.append(("log", (m, step)))  # type: ignore[attr-defined]
    module.end_run = lambda: service.calls.append(("finish", None))  # type: ignore[attr-defined]
    return module


def fake_trackio(service: FakeService) -> types.ModuleType:
    module = types.ModuleType("trackio")
    module.init = lambda **kw: service.calls.append(("init", kw))  # type: ignore[attr-defined]
    module.log = lambda m, step: service.calls.append(("log", (m, step)))  # type: ignore[attr-defined]
    module.finish = lambda: service.calls.append(("finish", None))  # type: ignore[attr-defined]
    return module


def test_wandb_mlflow_and_trackio_get_every_logged_step(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = {name: FakeService() for name in ("wandb", "mlflow", "trackio")}
    for name, make in (("wandb", fake_wandb), ("mlflow", fake_mlflow), ("trackio", fake_trackio)):
        monkeypatch.setitem(sys.modules, name, make(services[name]))
    run = tmp_path / "run"
    args = quick_overrides(run, "train.steps=3", "train.loggers=[wandb,mlflow,trackio]")
    result = runner.invoke(app, ["train", "--model", "fake-tiny", *args])
    assert result.exit_code == 0, result.output

    rows = metrics_rows(run)
    for name, service in services.items():
        logged = service.logged()
        assert sorted(logged) == [1, 2, 3], name
        expected = {s: r["loss_u"] for s, r in rows.items()}
        assert {s: v["loss/loss_u"] for s, v in logged.items()} == pytest.approx(expected)
        assert service.calls[-1] == ("finish", None), name
    assert not (run / "tensorboard").exists()  # only the chosen loggers run
    wandb_init = services["wandb"].calls[0][1]
    assert wandb_init["config"]["train"]["steps"] == 3 and wandb_init["name"] == "run" and wandb_init["id"] is None
    assert (run / "wandb-run-id").read_text() == "run-abc" and (run / "mlflow-run-id").read_text() == "ml-1"
    assert dict(services["mlflow"].calls)["params"]["train.steps"] == "3"
    assert services["trackio"].calls[0][1]["resume"] == "never"


def test_a_resumed_run_reopens_its_wandb_and_mlflow_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from unigame_core.report.loggers import MlflowLogger, WandbLogger

    wandb, mlflow = FakeService(), FakeService()
    monkeypatch.setitem(sys.modules, "wandb", fake_wandb(wandb))
    monkeypatch.setitem(sys.modules, "mlflow", fake_mlflow(mlflow))
    WandbLogger(tmp_path, {}, 0), MlflowLogger(tmp_path, {}, 0)
    WandbLogger(tmp_path, {}, 40), MlflowLogger(tmp_path, {}, 40)
    assert [c[1]["id"] for c in wandb.calls] == [None, "run-abc"] and wandb.calls[1][1]["resume"] == "allow"
    starts = [c[1]["run_id"] for c in mlflow.calls if c[0] == "start_run"]
    assert starts == [None, "ml-1"] and sum(c[0] == "params" for c in mlflow.calls) == 1


class Recorder(MetricLogger):
    runs: list[Recorder] = []

    def __init__(self, run_dir: Path, config: dict[str, Any], resume_step: int = 0) -> None:
        self.logged: dict[int, dict[str, float]] = {}
        self.closed = False
        Recorder.runs.append(self)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        self.logged[step] = dict(scalars)

    def close(self) -> None:
        self.closed = True


class LoggerPlugin:
    @staticmethod
    @hookimpl
    def unigame_register_loggers(loggers: Registry) -> None:
        loggers.add("recorder", f"{__name__}:Recorder", help="keeps every step in memory")


def test_a_plugin_registers_its_own_logger(fake_plugin: None, tmp_path: Path) -> None:
    plugins.register_plugin(LoggerPlugin, "recorder-plugin")
    Recorder.runs.clear()
    try:
        args = quick_overrides(tmp_path / "run", "train.steps=2", "train.loggers=[recorder,tensorboard]")
        result = runner.invoke(app, ["train", "--model", "fake-tiny", *args])
    finally:
        plugins.unregister_plugin("recorder-plugin")
    assert result.exit_code == 0, result.output
    (recorder,) = Recorder.runs
    assert sorted(recorder.logged) == [1, 2] and recorder.closed and "loss/loss_u" in recorder.logged[1]


def test_a_logger_that_fails_is_dropped_and_the_others_go_on(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(Recorder):
        def log(self, step: int, scalars: Mapping[str, float]) -> None:
            raise ConnectionError("server went away")

    good, bad = Recorder(Path("."), {}), Broken(Path("."), {})
    monitor = Monitor({"good": good, "bad": bad})
    monitor.log(1, {"step": 1, "loss_u": 2.0})
    monitor.log(2, {"step": 2, "loss_u": 1.5})
    assert sorted(good.logged) == [1, 2] and list(monitor.loggers) == ["good"]
    assert "logger 'bad' failed (ConnectionError: server went away)" in caplog.text


def test_scalars_of_a_metrics_row() -> None:
    row = {"step": 3, "adversary_step": 2, "loss_u": 1.5, "ce_buffer": None, "ce_adv": float("nan"),
           "hardness": [1.0, 3.0], "buffer": 7, "samples_per_s": 12.5, "custom": 4}
    assert scalars_of(row) == {"loss/loss_u": 1.5, "game/hardness_mean": 2.0, "game/buffer": 7.0,
                               "system/samples_per_s": 12.5, "train/custom": 4.0}
