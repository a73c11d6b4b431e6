"""The naturalbench and advqa suites as users run them: registered with their options file, through ``unigame eval``
(``--limit``, one-sentence refusals), and as the questions ``attack-pgd`` attacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf
from typer.testing import CliRunner

import unigame_core.testing
from unigame_core import config_files, plugins
from unigame_core.cli.main import app
from unigame_core.eval.runner import build_suite
from unigame_core.eval.tasks import task_manager
from unigame_core.interfaces import ScoredRows
from unigame_core.testing import FakeBackend
from unigame_evals import options
from unigame_evals.fixtures import write_advqa, write_naturalbench
from unigame_evals.plugin import TASKS_DIR

SUITES = {"naturalbench": (options.NaturalBenchOptions, "unigame_naturalbench"),
          "advqa": (options.AdVQAOptions, "unigame_advqa")}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bench")
    write_naturalbench(root / "naturalbench", n=3)
    write_advqa(root / "advqa", n=3)
    return root


@pytest.fixture
def fake_model() -> Iterator[None]:
    """``fake-tiny`` registered in-process (the fake backend's own hooks), unregistered afterwards."""
    plugins.register_plugin(unigame_core.testing, "fake")
    try:
        yield
    finally:
        plugins.unregister_plugin("fake")


@pytest.mark.parametrize("name", sorted(SUITES))
def test_registered_with_tasks_and_an_options_file_that_validates(name: str, data_root: Path) -> None:
    config, task = SUITES[name]
    entry = plugins.suites().get(name)
    assert entry.plugin == "evals" and entry.config is config and entry.extra.lm_eval_tasks == TASKS_DIR
    assert entry.load().name == name and entry.extra.requires == ()
    assert entry.extra.file == config_files.shipped(f"suites/{name}.yaml")
    data = config_files.read(entry.extra.file)
    merged = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(config), data))
    assert {k: getattr(merged, k) for k in data} == data == {"max_new_tokens": config().max_new_tokens}
    built = task_manager([TASKS_DIR], {"data_root": str(data_root)}).load([task])["tasks"][task]
    doc = built.test_docs()[0]
    assert {"id", "question", "image", "references", "target"} <= set(doc)
    assert isinstance(doc["image"], (str, bytes)) and doc["image"]  # never decoded pixels


@pytest.mark.usefixtures("fake_model")
def test_unigame_eval_runs_both_with_limit_and_writes_intervals(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "--model", "fake-tiny", "--suite", "naturalbench,advqa", "--data-root",
                                      str(data_root), "--limit", "6", "--batch-size", "4", "--output", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["suites"]["naturalbench"]["n"] == 8 and doc["suites"]["naturalbench"]["details"]["groups"] == 2
    assert doc["suites"]["advqa"]["n"] == 3 and doc["limit"] == 6
    rows = {(r["suite"], r["metric"]): r for r in doc["results"]}
    assert [rows[("naturalbench", m)]["n"] for m in ("acc", "q_acc", "i_acc", "g_acc")] == [8, 2, 2, 2]
    assert all(rows[("naturalbench", m)]["ci95"] is not None for m in ("acc", "q_acc", "i_acc", "g_acc"))
    assert rows[("advqa", "accuracy")]["n"] == 3 and rows[("advqa", "accuracy")]["ci95"] is not None
    assert doc["suites"]["naturalbench"]["per_question"]["q_acc"] == {"where": {"level": "questions"}, "scale": 1.0}
    lines = [json.loads(x) for x in (out / "predictions" / "naturalbench.jsonl").read_text().splitlines()]
    assert [x["level"] for x in lines].count("pair") == 8 and len(lines) == 8 + 3 * 2


@pytest.mark.usefixtures("fake_model")
def test_a_group_missing_a_pair_stops_unigame_eval_before_the_model_loads(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    root = write_naturalbench(tmp_path / "data" / "naturalbench", n=2, layout="lmms-eval")
    path = root / "data" / "test-00000-of-00001.parquet"
    table = pq.read_table(path)
    pq.write_table(table.from_pylist(table.to_pylist()[:7], schema=table.schema), path)
    result = CliRunner().invoke(app, ["eval", "--model", "fake-tiny", "--suite", "naturalbench", "--data-root",
                                      str(tmp_path / "data"), "--output", str(tmp_path / "out")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "NaturalBench group 1" in result.output and "has 3 of its 4 (image, question) pairs" in result.output
    assert not (tmp_path / "out" / "results.json").exists()


def _gold(question: str, green: float) -> str:
    """The fixture's answer: question k on image i is right when k == i (Yes/A), wrong otherwise (No/B)."""
    k, i = int(question.split("question ")[1][0]), int(green > 0.5)
    yes = k == i
    return ("Yes" if yes else "No") if "Yes or No" in question else ("A" if yes else "B")


def test_attack_pgd_on_naturalbench_keeps_its_group_metrics(data_root: Path) -> None:
    """The fixture's images are flat colours: the script answers right on a flat image, wrong on an attacked one."""
    backend = FakeBackend()

    def generate(pixels: torch.Tensor, questions: Any, max_new_tokens: int = 16) -> list[str]:
        flat = (pixels.flatten(2).std(2).amax(1) < 1e-6).tolist()
        answers = [_gold(q, float(p[1].mean())) for q, p in zip(questions, pixels)]
        return [a if f else {"Yes": "No", "No": "Yes", "A": "B", "B": "A"}[a] for a, f in zip(answers, flat)]

    backend.understander.generate = generate  # type: ignore[method-assign]
    suite = build_suite("attack-pgd:naturalbench", data_root, {"eps": ["0", "8/255"], "steps": 2}).suite
    suite.check_data()
    result = suite.evaluate(backend, limit=None, batch_size=4)
    for metric in ("acc", "q_acc", "i_acc", "g_acc"):
        assert result.metrics[f"clean/{metric}"] == result.metrics[f"robust[0]/{metric}"] == 1.0
        assert result.metrics[f"robust[8/255]/{metric}"] == 0.0
    spec = ScoredRows({"level": "questions", "condition": "robust[8/255]"})
    assert result.per_question["robust[8/255]/q_acc"] == spec
    assert result.details["attack"]["8/255"]["attacked"] == 12  # every pair of the 3 groups; no group row
    robust = [r for r in result.predictions if r["condition"] == "robust[8/255]"]
    assert len(robust) == 12 + 3 * 3 and {r["score"] for r in robust} == {0.0}


def test_attack_pgd_on_advqa_keeps_the_vqa_accuracy(data_root: Path) -> None:
    backend = FakeBackend()

    def generate(pixels: torch.Tensor, questions: Any, max_new_tokens: int = 10) -> list[str]:
        return ["yes" if f else "no" for f in (pixels.flatten(2).std(2).amax(1) < 1e-6).tolist()]

    backend.understander.generate = generate  # type: ignore[method-assign]
    suite = build_suite("attack-pgd:advqa", data_root, {"eps": ["0", "8/255"], "steps": 2}).suite
    suite.check_data()
    m = suite.evaluate(backend, limit=None, batch_size=4).metrics
    # one yes/no question of three, right only on its clean image; percent, as the official script
    assert m["clean/accuracy"] == m["robust[0]/accuracy"] == pytest.approx(100 / 3)
    assert m["clean/accuracy_yes_no"] == 100.0 and m["robust[8/255]/accuracy"] == 0.0
