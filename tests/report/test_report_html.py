"""report.html: self-contained, built from the run directory alone, written at the end and on Ctrl-C, and
rendered by a real (headless) browser; a resumed run still ends with the before/after table."""

from __future__ import annotations

import json
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from headless_browser import chromium, headless
from unigame_core.cli.main import app
from unigame_core.config import build_config
from unigame_core.game import step as step_module
from unigame_core.report.page import evaluation_html, read_metrics, series, write_report
from unigame_core.run import runner as train_runner
from unigame_core.testing import quick_overrides

cli = CliRunner()


def make_run_dir(run: Path, steps: int = 20, evaluation: object | None = None) -> Path:
    """A run directory as training leaves it: config, metrics (step 4 replayed after a resume), grids."""
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("model: fake-tiny\ngame:\n  coupling: decoder\ntrain:\n  steps: 20\n")
    rows = []
    for step in [*range(1, 5), 4, *range(5, steps + 1)]:
        adv = step - step % 2 or 1  # the adversary plays every second step
        rows.append({"step": step, "loss_u": 3.0 / step, "ce_clean": 2.0 / step, "ce_buffer": None,
                     "adversary_step": adv, "ce_adv": 4.0 / adv, "gate_pass": 0.5 + adv / 100, "buffer": step,
                     "delta_norm": 0.01 * adv, "eps": 0.02, "tau": 1.0, "hardness": [1.0, 2.0], "mined": 2,
                     "beta": 1.0, "samples_per_s": 30.0, "skipped_updates": 0})
    rows[3]["loss_u"], rows[4]["loss_u"] = 5.0, 0.8  # step 4 logged, then replayed: the later row counts
    (run / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n{\"step\": 21, \"loss")  # cut line
    (run / "samples").mkdir()
    for step, colour in ((10, (255, 0, 0)), (20, (0, 0, 255))):
        Image.new("RGB", (32, 64), colour).save(run / "samples" / f"step-{step}.png")
    if evaluation is not None:
        (run / "before_after.json").write_text(json.dumps(evaluation))
    return run


def test_metrics_are_read_once_per_step_and_the_adversary_at_its_own_turns(tmp_path: Path) -> None:
    rows = read_metrics(make_run_dir(tmp_path / "run"))
    assert [r["step"] for r in rows] == list(range(1, 21))  # the cut-off last line is ignored
    assert rows[3]["loss_u"] == 0.8  # a replayed step keeps its last row
    assert series(rows, "ce_adv")[:3] == [(1, 4.0), (2, 2.0), (4, 1.0)]  # one point per adversary turn
    assert series(rows, "ce_buffer") == []


def test_the_report_is_self_contained_and_shows_everything(tmp_path: Path) -> None:
    evaluation = [{"suite": "shapes", "metric": "acc", "n": 150, "before": 0.41, "after": 0.47,
                   "ci95": [0.01, 0.11], "verdict": "better"}]
    run = make_run_dir(tmp_path / "run", evaluation=evaluation)
    page = write_report(run).read_text()

    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing loaded from the network
    assert page.count('<figure class="chart"') == 11 and page.count('class="curve"') == 13
    for name in ("loss_u", "ce_clean", "ce_adv", "gate_pass", "buffer", "delta_norm", "eps", "tau"):
        assert f'data-name="{name}"' in page, name
    assert page.count("data:image/png;base64,") == 2 and "step 20" in page
    for header in ("suite", "metric", "n", "before", "after", "ci95", "verdict", "change"):
        assert f">{header}</th>" in page, header
    assert "[0.01, 0.11]" in page and ">better<" in page and "+0.06" in page
    assert "coupling: decoder" in page  # the resolved config
    assert 'class="finished"' not in page and "unigame train --resume" in page  # no adapter: not finished


def test_before_after_in_other_shapes_is_still_rendered() -> None:
    doc = {"verdict": "after is better on 2 of 3", "alpha": 0.05,
           "rows": [{"suite": "pope", "metric": "acc", "before": 0.8, "after": 0.82, "change": 0.02}],
           "before": {"pope": {"acc": 0.8, "n": 300}}}
    page = evaluation_html(doc)
    assert "after is better on 2 of 3" in page and ">0.05<" in page
    assert page.count("<table") == 3 and ">change</th>" in page and page.count(">change</th>") == 1
    assert ">300<" in page


def test_report_command_writes_the_page_and_refuses_a_non_run_dir(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "run")
    result = cli.invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "report.html").exists() and "report.html" in result.output
    result = cli.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "is not a run directory" in result.output
    (run / "config.yaml").write_text("train: [unclosed\n")  # a damaged config: the page is still written
    result = cli.invoke(app, ["report", str(run)])
    text = " ".join(result.output.split())
    assert result.exit_code == 0 and "cannot parse" in text and "Traceback" not in text, result.output
    assert "train: [unclosed" in (run / "report.html").read_text()


def test_ctrl_c_writes_the_report_and_a_resume_ends_with_before_after(
    fake_plugin: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scores = iter([{"fake": {"acc": 0.25}}, {"fake": {"acc": 0.75}}])
    evaluated: list[str] = []

    def evaluate(cfg, backend, when):  # noqa: ANN001, ANN202 - stands in for the suites
        evaluated.append(when)
        return next(scores)

    real_step, calls = step_module.game_step, {"n": 0}

    def ctrl_c_in_third_step(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 3:  # training stops with a checkpoint (after this step, or before it)
            signal.raise_signal(signal.SIGINT)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train_runner, "_evaluate", evaluate)
    monkeypatch.setattr(train_runner, "game_step", ctrl_c_in_third_step)
    run = tmp_path / "run"
    args = quick_overrides(run, "train.steps=4", "train.eval_suites=[shapes]", "train.sample_every=1")
    with pytest.raises(KeyboardInterrupt):
        train_runner.run_training(build_config("fake-tiny", None, args))
    (stopped_at,) = [int(p.name.removeprefix("step-")) for p in (run / "checkpoints").iterdir()]
    page = (run / "report.html").read_text()
    assert f"interrupted at step {stopped_at}" in page and "data:image/png;base64," in page
    assert json.loads((run / "before.json").read_text()) == {"fake": {"acc": 0.25}}

    monkeypatch.setattr(train_runner, "game_step", real_step)
    train_runner.run_training(build_config("fake-tiny", None, args), resume=True)
    assert evaluated == ["before", "after"]  # the resume read before.json instead of skipping the table
    assert (run / "before_after.json").exists()
    page = (run / "report.html").read_text()
    assert ">finished<" in page and "4/4" in page and "0.75" in page


@pytest.mark.slow
def test_the_report_renders_in_a_headless_browser(tmp_path: Path) -> None:
    browser = chromium()
    run = make_run_dir(tmp_path / "run", evaluation=[{"suite": "shapes", "metric": "acc", "before": 0.4,
                                                       "after": 0.5}])
    url = write_report(run).resolve().as_uri()

    dom = headless(browser, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-charts-ready="11"' in dom.stdout  # the page's script ran over every chart
    readouts = re.findall(r'<div class="readout">([^<]*)</div>', dom.stdout)
    assert len(readouts) == 11
    assert readouts[0].startswith("step 20: loss_u 0.15 · ce_clean 0.1 · ce_adv 0.2")

    shot = tmp_path / "shot.png"
    result = headless(browser, f"--screenshot={shot}", "--window-size=1200,2400", url)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    assert (pixels != 255).any(axis=1).mean() > 0.05  # not a blank page
    for colour in ((0x1F, 0x77, 0xB4), (0xD6, 0x27, 0x28), (255, 0, 0), (0, 0, 255)):  # curves and grids drawn
        assert (pixels == colour).all(axis=1).sum() > 50, colour


def test_the_browser_check_fails_in_ci_without_chromium_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="install chromium"):
        chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        chromium()
