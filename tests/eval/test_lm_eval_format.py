"""``results_lm_eval.json``: lm-eval's own results format next to ``results.json``, readable by lm-eval's tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lm_eval.utils import make_table
from typer.testing import CliRunner

from unigame_core.cli.main import app
from unigame_core.eval.lm_eval_format import higher_is_better, lm_eval_document

LM_EVAL_KEYS = {"results", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples",
                "config", "date", "lm_eval_version", "model_name", "model_name_sanitized",
                "total_evaluation_time_seconds"}


def test_document_from_results_json() -> None:
    document = {
        "model": "janus-pro-7b", "adapter": "runs/x", "limit": 50, "batch_size": 32,
        "versions": {"lm_eval": "0.4.13", "transformers": "5.24.0"},
        "suites": {"pope": {"n": 150, "data": "/data/pope", "seconds": 2.5, "options": {"max_new_tokens": 10},
                            "details": {"lm_eval_tasks": {"unigame_pope_random": 1.0, "unigame_pope_popular": 1.0}}},
                   "mine": {"n": 7, "data": None, "seconds": 0.5, "details": {}}},
        "results": [{"suite": "pope", "metric": "f1", "value": 0.8},
                    {"suite": "pope", "metric": "random/yes_ratio", "value": 0.4},
                    {"suite": "mine", "metric": "accuracy", "value": 0.25}],
    }
    doc = lm_eval_document(document, device="cuda")
    assert LM_EVAL_KEYS <= set(doc)
    assert doc["results"]["pope"] == {"alias": "pope", "f1,none": 0.8, "f1_stderr,none": "N/A",
                                      "random/yes_ratio,none": 0.4, "random/yes_ratio_stderr,none": "N/A"}
    assert doc["versions"] == {"pope": 1.0, "mine": 1.0} and doc["n-shot"] == {"pope": 0, "mine": 0}
    assert doc["higher_is_better"]["pope"] == {"f1": True, "random/yes_ratio": False}
    assert doc["n-samples"]["pope"] == {"original": 150, "effective": 150}
    assert doc["configs"]["pope"]["metadata"]["lm_eval_tasks"] == {"unigame_pope_random": 1.0,
                                                                   "unigame_pope_popular": 1.0}
    assert doc["configs"]["mine"]["output_type"] == "generate_until" and doc["configs"]["mine"]["num_fewshot"] == 0
    assert doc["config"]["model"] == "unigame" and doc["config"]["model_args"] == "model=janus-pro-7b,adapter=runs/x"
    assert (doc["config"]["batch_size"], doc["config"]["limit"], doc["config"]["device"]) == (32, 50, "cuda")
    assert doc["model_name_sanitized"] == "janus-pro-7b" and doc["total_evaluation_time_seconds"] == "3.0"
    assert not higher_is_better("unreadable_images") and higher_is_better("accuracy/Art_Theory")


@pytest.mark.usefixtures("fake_plugins")
def test_unigame_eval_writes_lm_eval_results_that_lm_eval_tools_read(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["eval", "--model", "fake-tiny", "--suite", "vqav2,pope", "--data-root",
                                      str(data_root), "--limit", "6", "--batch-size", "4", "--output", str(out)])
    assert result.exit_code == 0, result.output
    ours = json.loads((out / "results.json").read_text())
    theirs = json.loads((out / "results_lm_eval.json").read_text())
    assert LM_EVAL_KEYS <= set(theirs) and list(theirs["results"]) == ["vqav2", "pope"]
    for row in ours["results"]:  # the same numbers as results.json, under lm-eval's "<metric>,<filter>" keys
        assert theirs["results"][row["suite"]][f"{row['metric']},none"] == row["value"]
    assert theirs["versions"]["vqav2"] == 2.0  # the task version of the official-metric VQAv2
    assert theirs["configs"]["vqav2"]["metadata"]["lm_eval_tasks"] == {"unigame_vqav2": 2.0}
    assert set(theirs["configs"]["pope"]["metadata"]["lm_eval_tasks"]) == {
        "unigame_pope_random", "unigame_pope_popular", "unigame_pope_adversarial"}
    assert theirs["n-samples"]["pope"] == {"original": 6, "effective": 6}
    assert theirs["config"]["model_args"] == "model=fake-tiny" and theirs["config"]["limit"] == 6
    table = make_table(theirs)  # lm-eval's own table printer
    assert "vqav2" in table and "accuracy_yes_no" in table and "yes_ratio" in table and "↓" in table
