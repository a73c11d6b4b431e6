"""``unigame calibrate``: the eps it picks keeps >= 80 % of labels on shapes-tiny's val split; its pieces."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from unigame_core.cli.main import app
from unigame_core.config import build_config
from unigame_core.errors import ConfigError
from unigame_core.run.calibration import EpsPoint, at_bound, choose_eps, held_out_spec, same_answer


@pytest.mark.slow
def test_calibrate_on_shapes_tiny_picks_an_eps_that_keeps_the_labels(tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    result = CliRunner().invoke(app, ["calibrate", "--limit", "16", "--batch-size", "16", "--eps", "0,0.05,0.5,2",
                                      "--output", str(out), "train.device=cpu"])
    assert result.exit_code == 0, result.output
    found = json.loads(out.read_text())
    points = {p["eps"]: p for p in found["points"]}
    assert found["n"] == 16 and found["probe"] == "pixel" and found["eps"] in points
    assert points[found["eps"]]["keep_rate"] >= 0.8  # the chosen eps keeps its labels
    assert points[0.0]["keep_rate"] == 1.0 and points[0.0]["tokens_changed"] == 0.0  # delta = 0 is the reference
    assert points[2.0]["keep_rate"] < 0.8 and found["eps"] < 2.0  # eps 2 destroys the picture, so is never chosen
    assert points[2.0]["tokens_changed"] > points[0.05]["tokens_changed"]
    # the refined adversary's strength at each eps: nothing at 0, a gain at the training eps, more with room
    assert points[0.0]["ce_gain"] == pytest.approx(0.0, abs=1e-6)
    assert points[0.05]["ce_gain"] > 0.05 and points[0.5]["ce_gain"] > points[0.05]["ce_gain"]
    text = " ".join(result.output.split())
    assert f"use: game.eps_max={found['eps']:g}" in text and "the refined adversary gains +" in text
    assert "adversary CE gain" in result.output


def test_the_chosen_eps_is_the_largest_whose_grid_keeps_the_target_up_to_it() -> None:
    points = [EpsPoint(e, k, 0.5, math.nan) for e, k in ((0.0, 1.0), (0.1, 0.9), (0.2, 0.7), (0.3, 0.85))]
    assert choose_eps(points, 0.8) == 0.1  # 0.3 keeps 85 %, but 0.2 before it does not
    assert choose_eps(points, 0.95) == 0.0
    assert choose_eps([EpsPoint(0.1, math.nan, 0.0, math.nan)], 0.8) is None  # nothing right at delta = 0


def test_every_token_is_moved_exactly_to_its_bound() -> None:
    z = torch.randn(2, 5, 8)
    moved = at_bound(z, 0.2, torch.randn(2, 5, 8))
    torch.testing.assert_close((moved - z).norm(dim=-1), 0.2 * z.norm(dim=-1))


def test_answers_held_out_data_and_bad_options() -> None:
    assert same_answer(" Red.", "red") and not same_answer("red", "blue")
    cfg = build_config(None, None, [])
    assert held_out_spec(cfg, None) == "shapes:val" and held_out_spec(cfg, "shapes:test") == "shapes:test"
    with pytest.raises(ConfigError, match="held-out data"):
        held_out_spec(build_config(None, None, ["data.spec=shapes:test"]), None)
    runner = CliRunner()
    for args, says in ((["--eps", "a,b"], "--eps 'a,b' is not a comma-separated list of numbers."),
                       (["--eps", "-0.1,0.2"], "--eps '-0.1,0.2' has a negative eps (-0.1); every eps must be >= 0."),
                       (["--eps", ","], "--eps ',' names no eps."),
                       (["--probe", "worst"], "--probe 'worst' is not one of pixel, random."),
                       (["--target", "2"], "--target must be in (0, 1], got 2."),
                       (["--limit", "0"], "--limit must be at least 1, got 0."),
                       (["--output", "."], "--output '.' is a folder; it must name a file.")):
        result = runner.invoke(app, ["calibrate", *args])
        text = " ".join(result.output.split())
        assert result.exit_code == 2 and says in text and text.count("error:") == 1, (args, result.output)
