"""``unigame eval --suite shapes``: results.json records the attack that ran and only the options it applied,
and each split shows its own n."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import unigame_shapes.suites as shapes_suites
from unigame_core.cli.main import app

ADAPTIVE_ONLY = {"attack_eps", "attack_steps", "attack_batch"}


def _eval(out: Path, *options: str) -> dict[str, Any]:
    args = ["eval", "--model", "fake-tiny", "--suite", "shapes", "--batch-size", "4", "--output", str(out),
            "-O", "shapes.samples=3"]
    for option in options:
        args += ["-O", option]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


@pytest.mark.usefixtures("fake_plugins", "eval_cache")
def test_fixed_attack_records_no_adaptive_settings_and_n_per_split(tmp_path: Path) -> None:
    doc = _eval(tmp_path / "fixed")
    suite = doc["suites"]["shapes"]
    assert suite["options"]["attack"] == "fixed" and not ADAPTIVE_ONLY & set(suite["options"])
    assert suite["details"]["attack"]["kind"] == "fixed" and suite["details"]["attack"]["norm"] == "L_inf"
    assert suite["details"]["attack"]["eps"] == pytest.approx(4 / 255)  # read from the shipped split
    rows = {r["metric"]: r for r in doc["results"]}
    assert suite["n"] == 9 and all(rows[f"{s}_accuracy"]["n"] == 3 for s in ("test", "shift", "attack"))
    assert all(len(rows[f"{s}_accuracy"]["ci95"]) == 2 for s in ("test", "shift", "attack"))
    lines = [json.loads(x) for x in (tmp_path / "fixed" / "predictions" / "shapes.jsonl").read_text().splitlines()]
    assert [x["split"] for x in lines] == ["test"] * 3 + ["shift"] * 3 + ["attack"] * 3


@pytest.mark.usefixtures("fake_plugins", "eval_cache")
def test_adaptive_attack_records_the_settings_it_ran_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    applied: list[dict[str, Any]] = []
    real = shapes_suites.shared_token_attack

    def spy(backend: Any, pixels: Any, questions: Any, answers: Any, *, eps: float, steps: int) -> Any:
        applied.append({"eps": eps, "steps": steps, "batch": len(questions)})
        return real(backend, pixels, questions, answers, eps=eps, steps=steps)

    monkeypatch.setattr(shapes_suites, "shared_token_attack", spy)
    doc = _eval(tmp_path / "adaptive", "shapes.attack=adaptive", "shapes.attack_eps=0.1", "shapes.attack_steps=2",
                "shapes.attack_batch=2")
    suite = doc["suites"]["shapes"]
    options, attack = suite["options"], suite["details"]["attack"]
    assert {"eps": options["attack_eps"], "steps": options["attack_steps"]} == {"eps": 0.1, "steps": 2}
    assert attack == {"kind": "adaptive", "space": "shared tokens", "eps": 0.1, "steps": 2, "batch": 2}
    assert [a["eps"] for a in applied] == [0.1, 0.1] and [a["steps"] for a in applied] == [2, 2]
    assert max(a["batch"] for a in applied) == attack["batch"]


@pytest.mark.usefixtures("fake_plugins", "eval_cache")
def test_splits_option_scores_the_nuisance_split_and_only_the_asked_splits(tmp_path: Path) -> None:
    from unigame_shapes.world import ShapesWorld

    doc = _eval(tmp_path / "nuisance", "shapes.splits=[test,nuisance]")
    suite = doc["suites"]["shapes"]
    rows = {r["metric"]: r for r in doc["results"]}
    assert suite["n"] == 6 and {"test_accuracy", "nuisance_accuracy"} <= set(rows)
    assert "attack_accuracy" not in rows and "shift_accuracy" not in rows
    assert suite["details"]["attack"] is None and not ADAPTIVE_ONLY & set(suite["options"])
    lines = [json.loads(x) for x in (tmp_path / "nuisance" / "predictions" / "shapes.jsonl").read_text().splitlines()]
    assert [x["split"] for x in lines] == ["test"] * 3 + ["nuisance"] * 3
    world = ShapesWorld(0, 32)
    assert [x["question"] for x in lines[3:]] == [world.sample("nuisance", i).question for i in range(3)]


@pytest.mark.usefixtures("fake_plugins")
def test_an_unknown_split_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", "--model", "fake-tiny", "--suite", "shapes", "--output",
                                      str(tmp_path / "x"), "-O", "shapes.splits=[test,blurry]"])
    assert result.exit_code == 2 and "splits must be a non-empty list" in result.output
