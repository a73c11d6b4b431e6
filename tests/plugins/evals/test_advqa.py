"""AdVQA: its official files and COCO val2017 images, scored by VQAv2's own official VQA accuracy (shared code)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from unigame_core.eval.tasks import task_manager
from unigame_core.interfaces import ScoredRows
from unigame_core.testing import FakeBackend
from unigame_evals.advqa import read_advqa
from unigame_evals.fixtures import write_advqa
from unigame_evals.items import DataLayoutError
from unigame_evals.options import AdVQAOptions
from unigame_evals.plugin import TASKS_DIR
from unigame_evals.suites import AdVQASuite

LAYOUT = ("the official AdVQA layout <root>/v1_OpenEnded_mscoco_val2017_advqa_questions.json, "
          "<root>/v1_mscoco_val2017_advqa_annotations.json and COCO val2017 images <root>/val2017/<image_id:012d>.jpg")
ANSWERS = {"Is there a cat": "yes", "How many dogs": "Two", "What color": "dark red"}


def _answer(question: str) -> str:
    return next(a for prefix, a in ANSWERS.items() if question.startswith(prefix))


def test_read_advqa_fixture(tmp_path: Path) -> None:
    items = read_advqa(write_advqa(tmp_path / "advqa", n=3))
    first = items[0]
    assert [i.id for i in items] == ["1000", "1010", "1020"]
    assert first.question == "Is there a cat in the picture?\nAnswer the question using a single word or phrase."
    assert first.image == str(tmp_path / "advqa" / "val2017" / "000000000100.jpg")
    assert first.references == ("yes",) * 10 and items[1].meta["answer_type"] == "number"
    assert len(read_advqa(tmp_path / "advqa", limit=2)) == 2


def test_advqa_scores_the_official_vqa_accuracy_by_answer_type(tmp_path: Path, backend: FakeBackend,
                                                               script: Any) -> None:
    write_advqa(tmp_path / "advqa", n=6)
    calls = script(backend, _answer)
    suite = AdVQASuite(AdVQAOptions(), tmp_path)
    suite.check_data()
    result = suite.evaluate(backend, limit=None, batch_size=4)
    # yes/no: ten "yes" -> 1; number: "Two" -> "2" against six "2" -> 1; other: "dark red" matches one human -> 0.3
    assert result.metrics == {"accuracy": 76.67, "accuracy_yes_no": 100.0, "accuracy_number": 100.0,
                              "accuracy_other": 30.0, "unreadable_images": 0.0}
    assert [p["score"] for p in result.predictions] == pytest.approx([1.0, 1.0, 0.3] * 2)
    assert calls == [(4, 10), (2, 10)] and result.n == 6
    assert result.per_question["accuracy"] == ScoredRows(scale=100.0)
    assert result.per_question["accuracy_other"] == ScoredRows({"answer_type": "other"}, 100.0)
    assert result.details["data"] == str((tmp_path / "advqa").resolve())
    assert result.details["lm_eval_tasks"] == {"unigame_advqa": 1.0}


def test_advqa_task_is_vqav2s_task_on_other_files(tmp_path: Path) -> None:
    write_advqa(tmp_path / "advqa", n=2)
    task = task_manager([TASKS_DIR], {"data_root": str(tmp_path)}).load(["unigame_advqa"])["tasks"]["unigame_advqa"]
    scorer = task.config.process_results
    assert (scorer.__module__, scorer.__qualname__) == ("unigame_evals.lm_metrics", "vqav2_results")
    assert [(m["metric"], m["aggregation"].__qualname__) for m in task.config.metric_list] == [
        ("accuracy", "vqav2_accuracy"), ("accuracy_yes_no", "vqav2_accuracy_yes_no"),
        ("accuracy_number", "vqav2_accuracy_number"), ("accuracy_other", "vqav2_accuracy_other")]
    assert task.config.generation_kwargs["until"] == ["\n"] and task.config.metadata["version"] == 1.0


def test_advqa_limit_and_a_corrupt_image(tmp_path: Path, backend: FakeBackend, script: Any,
                                         caplog: pytest.LogCaptureFixture) -> None:
    root = write_advqa(tmp_path / "advqa", n=3)
    (root / "val2017" / "000000000100.jpg").write_bytes(b"not a jpeg at all")
    calls = script(backend, _answer)
    with caplog.at_level(logging.WARNING):
        result = AdVQASuite(AdVQAOptions(), tmp_path).evaluate(backend, limit=None, batch_size=8)
    assert calls == [(2, 10)] and result.metrics["unreadable_images"] == 1.0
    assert result.metrics["accuracy"] == 43.33  # 100 * (0 + 1 + 0.3) / 3: scored 0, still counted
    assert result.predictions[0]["unreadable"] is True and result.predictions[0]["score"] == 0.0
    assert "000000000100.jpg" in caplog.text
    limited = AdVQASuite(AdVQAOptions(path=str(root)), None).evaluate(backend, limit=2, batch_size=8)
    assert [p["id"] for p in limited.predictions] == ["1000", "1010"] and limited.n == 2


@pytest.mark.parametrize("relative", ["v1_OpenEnded_mscoco_val2017_advqa_questions.json",
                                      "v1_mscoco_val2017_advqa_annotations.json", "val2017/000000000101.jpg"])
def test_a_missing_advqa_file_is_named_with_the_layout(tmp_path: Path, relative: str) -> None:
    root = write_advqa(tmp_path / "advqa", n=3)
    (root / relative).unlink()
    with pytest.raises(DataLayoutError) as info:
        AdVQASuite(AdVQAOptions(), tmp_path).check_data()
    assert str(info.value) == f"Missing file {root.resolve() / relative}: expected {LAYOUT}."


def test_an_annotation_missing_for_a_question_is_named(tmp_path: Path) -> None:
    root = write_advqa(tmp_path / "advqa", n=3)
    path = root / "v1_mscoco_val2017_advqa_annotations.json"
    data = json.loads(path.read_text())
    data["annotations"] = data["annotations"][:2]
    path.write_text(json.dumps(data))
    with pytest.raises(DataLayoutError) as info:
        read_advqa(root)
    assert str(info.value) == (f"Missing file v1_mscoco_val2017_advqa_annotations.json (annotation for question_id "
                               f"1020): expected {LAYOUT}.")
