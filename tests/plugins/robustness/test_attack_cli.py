"""`unigame eval --suite attack-pgd,attack-decoder` from the command line: the default shapes-tiny model and
tiny random Janus and Emu3 checkpoints (each attacked through its own roles, nothing model-specific)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from unigame_core.cli.main import app

WORDS = ["red", "green", "blue", "yellow", "square", "circle", "triangle", "what", "color", "is", "the", "yes", "no"]


@pytest.fixture(scope="module")
def janus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from unigame_janus.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("janus") / "tiny-janus", words=(" ".join(WORDS),),
                                 image_size=16, patch_size=4)


@pytest.fixture(scope="module")
def emu3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from unigame_emu3.tiny import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("emu3") / "tiny-emu3", words=WORDS)


def _eval(tmp_path: Path, *model: str, attack_all: bool = False) -> dict:
    out = tmp_path / "eval"
    args = ["eval", "--suite", "attack-pgd,attack-decoder", *model, "--limit", "3", "--batch-size", "3",
            "--output", str(out), "-O", "attack-pgd.eps=[0,4/255]", "-O", "attack-decoder.eps=[0,0.1]",
            "-O", "attack-pgd.steps=2", "-O", "attack-decoder.steps=2"]
    for suite in ("attack-pgd", "attack-decoder"):  # a random model answers nothing right: attack it anyway
        args += ["-O", f"{suite}.attack_all={str(attack_all).lower()}"]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "robust[4/255]/test_accuracy" in result.output and "round_trip/test_accuracy" in result.output
    assert (out / "predictions" / "attack-pgd:shapes.jsonl").exists()
    lm_eval = json.loads((out / "results_lm_eval.json").read_text())
    assert "attack-decoder:shapes" in json.dumps(lm_eval)
    return json.loads((out / "results.json").read_text())


def _check(document: dict, attacked: int = 1) -> None:
    """Robust <= clean for every metric, eps 0 changes nothing, and the perturbation stays within eps."""
    values = {(r["suite"], r["metric"]): r for r in document["results"]}
    for (suite, metric), row in values.items():
        if metric.startswith("robust["):
            label, base = metric[len("robust["):].split("]/", 1)
            if not base.endswith("accuracy"):
                continue
            assert row["value"] <= values[(suite, f"clean/{base}")]["value"] + 1e-9, metric
            assert row["ci95"] is not None and row["n"] >= 1
    for suite, eps_zero in (("attack-pgd:shapes", "robust[0]"), ("attack-decoder:shapes", "robust[0]")):
        for split in ("test", "shift", "attack"):
            expected = min(values[(suite, f"{c}/{split}_accuracy")]["value"]
                           for c in ("clean", "round_trip") if (suite, f"{c}/{split}_accuracy") in values)
            assert values[(suite, f"{eps_zero}/{split}_accuracy")]["value"] == pytest.approx(expected)
        for label, attack in document["suites"][suite]["details"]["attack"].items():
            assert attack["max_perturbation"] <= float(Fraction(label)) * (1 + 1e-5) + 1e-6
            assert attack["attacked"] >= attacked
            if label != "0":
                assert attack["max_perturbation"] > 0 and attack["mean_ce_adversarial"] >= attack["mean_ce_clean"]


@pytest.mark.slow
def test_attack_suites_on_the_default_shapes_model(tmp_path: Path) -> None:
    _check(_eval(tmp_path))  # the trained model answers some questions right: those are attacked


@pytest.mark.slow
def test_attack_suites_on_a_tiny_janus_checkpoint(tmp_path: Path, janus_dir: Path) -> None:
    _check(_eval(tmp_path, "--model", str(janus_dir), attack_all=True), attacked=3)


@pytest.mark.slow
def test_attack_suites_on_a_tiny_emu3_checkpoint(tmp_path: Path, emu3_dir: Path) -> None:
    _check(_eval(tmp_path, "--model", str(emu3_dir), attack_all=True), attacked=3)
