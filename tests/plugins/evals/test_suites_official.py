"""VQAv2, POPE and MMMU suites end to end through lm-eval, on tiny official-layout fixtures, with a
scripted backend whose answers give known official scores."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from unigame_core.errors import ConfigError, DataError
from unigame_core.testing import FakeBackend
from unigame_evals.fixtures import write_mmmu, write_pope, write_pope_parquet, write_vqav2
from unigame_evals.items import DataLayoutError
from unigame_evals.options import MMMUOptions, POPEOptions, VQAv2Options
from unigame_evals.suites import MMMUSuite, POPESuite, VQAv2Suite

VQA_ANSWERS = {"Is there a cat": "yes", "How many dogs": "Two", "What color": "dark red"}


def _vqa_answer(question: str) -> str:
    return next(a for prefix, a in VQA_ANSWERS.items() if question.startswith(prefix))


def test_vqav2_official_accuracy_by_answer_type(tmp_data: Path, backend: FakeBackend, script: Any) -> None:
    write_vqav2(tmp_data / "vqav2", n=6)
    calls = script(backend, _vqa_answer)
    suite = VQAv2Suite(VQAv2Options(), tmp_data)
    suite.check_data()
    result = suite.evaluate(backend, limit=None, batch_size=4)
    # yes/no: ten "yes" -> 1.0; number: "Two" vs six "2" + two "two" -> 1.0; other: "dark red" -> 0.3
    assert result.metrics == {"accuracy": 76.67, "accuracy_yes_no": 100.0, "accuracy_number": 100.0,
                              "accuracy_other": 30.0, "unreadable_images": 0.0}  # 100 * 4.6 / 6, 2 decimals
    assert result.n == 6 and calls == [(4, 10), (2, 10)]  # batched, the task's max_gen_toks
    first = result.predictions[0]
    assert set(first) >= {"id", "question", "prediction", "references", "score", "answer_type"}
    assert first["id"] == "1000" and first["prediction"] == "yes" and first["references"] == ["yes"] * 10
    assert first["question"].endswith("\nAnswer the question using a single word or phrase.")
    assert [p["score"] for p in result.predictions] == pytest.approx([1.0, 1.0, 0.3] * 2)
    assert result.details["data"] == str((tmp_data / "vqav2").resolve())


# An official-layout fixture whose score was worked out by hand from vqaEval.py's definition:
# (question, prediction, ten human answers, answer type, score of that question).
HAND_SCORED = [
    ("How many cups?", "Two", ["2"] * 10, "number", 1.0),                       # prediction -> "2"
    ("What is he wearing?", "t-shirt", ["t-shirt"] * 10, "other", 0.0),          # "t shirt" vs raw "t-shirt"
    ("Is it sunny?", "yes.", ["yes"] * 10, "yes/no", 1.0),                       # period stripped
    ("What animal is it?", "a dog", ["dog"] * 7 + ["a dog"] * 3, "other", 1.0),  # 7 "dog" match
    ("How many people?", "1,000", ["1000"] * 2 + ["1,000"] + ["thousand"] * 7, "number", 0.9),  # 3 "1000"
    ("What color is the car?", "red", ["red"] * 2 + ["dark red"] * 2 + ["maroon"] * 6, "other", 0.6),
    ("Is this correct?", "isnt", ["isn't"] * 10, "yes/no", 1.0),                # contraction expanded
    ("What is this?", "The Bus", ["the bus"] * 10, "other", 0.0),               # "bus" vs raw "the bus"
    ("What color is the sky?", "blue", ["blue"] + ["navy"] * 9, "other", 0.3),  # one match: 9 subsets see 1
]


def _write_official_vqav2(root: Path) -> None:
    """``HAND_SCORED`` in the official VQAv2 file layout (one 8x8 JPEG per question)."""
    from PIL import Image

    (root / "val2014").mkdir(parents=True)
    questions, annotations = [], []
    for i, (question, _, answers, answer_type, _) in enumerate(HAND_SCORED):
        image_id, qid = 500 + i, 5000 + i
        Image.new("RGB", (8, 8), (20 * i, 0, 0)).save(root / "val2014" / f"COCO_val2014_{image_id:012d}.jpg")
        questions.append({"image_id": image_id, "question": question, "question_id": qid})
        annotations.append({"question_id": qid, "image_id": image_id, "answer_type": answer_type,
                            "question_type": "what", "multiple_choice_answer": answers[0],
                            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": k + 1}
                                        for k, a in enumerate(answers)]})
    (root / "v2_OpenEnded_mscoco_val2014_questions.json").write_text(json.dumps({"questions": questions}))
    (root / "v2_mscoco_val2014_annotations.json").write_text(json.dumps({"annotations": annotations}))


def test_vqav2_matches_a_hand_computed_official_score(tmp_data: Path, backend: FakeBackend, script: Any) -> None:
    _write_official_vqav2(tmp_data / "vqav2")
    predictions = {question: prediction for question, prediction, *_ in HAND_SCORED}
    script(backend, lambda q: predictions[q.split("\n")[0]])
    result = VQAv2Suite(VQAv2Options(), tmp_data).evaluate(backend, limit=None, batch_size=4)
    assert [p["score"] for p in result.predictions] == pytest.approx([row[-1] for row in HAND_SCORED])
    # overall 5.8 / 9 = 64.444..%; number (1 + 0.9) / 2; other (0 + 1 + 0.6 + 0 + 0.3) / 5; yes/no 2 / 2
    assert result.metrics == {"accuracy": 64.44, "accuracy_yes_no": 100.0, "accuracy_number": 95.0,
                              "accuracy_other": 38.0, "unreadable_images": 0.0}


def test_vqav2_limit_and_path_override(tmp_path: Path, backend: FakeBackend, script: Any) -> None:
    root = write_vqav2(tmp_path / "elsewhere", n=6)
    script(backend, _vqa_answer)
    result = VQAv2Suite(VQAv2Options(path=str(root)), None).evaluate(backend, limit=2, batch_size=8)
    assert result.n == 2 and [p["id"] for p in result.predictions] == ["1000", "1010"]
    assert "accuracy_other" not in result.metrics  # no "other" question among the first two


def test_corrupt_image_is_scored_wrong_and_counted(tmp_data: Path, backend: FakeBackend, script: Any,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    root = write_vqav2(tmp_data / "vqav2", n=3)
    (root / "val2014" / "COCO_val2014_000000000100.jpg").write_bytes(b"not a jpeg at all")
    calls = script(backend, _vqa_answer)
    with caplog.at_level(logging.WARNING):
        result = VQAv2Suite(VQAv2Options(), tmp_data).evaluate(backend, limit=None, batch_size=8)
    assert calls == [(2, 10)]  # the unreadable sample never reaches the model
    assert result.metrics["unreadable_images"] == 1.0
    assert result.metrics["accuracy"] == 43.33  # 100 * 1.3 / 3: scored 0, still counted in n
    bad = result.predictions[0]
    assert bad["unreadable"] is True and bad["prediction"] == "" and bad["score"] == 0.0
    assert "COCO_val2014_000000000100.jpg" in caplog.text


def test_missing_file_and_missing_root(tmp_data: Path) -> None:
    root = write_vqav2(tmp_data / "vqav2", n=2)
    (root / "v2_mscoco_val2014_annotations.json").unlink()
    with pytest.raises(DataLayoutError, match="v2_mscoco_val2014_annotations.json"):
        VQAv2Suite(VQAv2Options(), tmp_data).check_data()
    with pytest.raises(DataError, match="--data-root") as info:
        VQAv2Suite(VQAv2Options(), None).check_data()
    assert "--suite vqav2=PATH" in str(info.value)


POPE_YES = ("cat", "car", "person")  # the fixture's objects of even items, whose label is "yes"


def test_pope_per_category_and_average(tmp_data: Path, backend: FakeBackend, script: Any) -> None:
    write_pope(tmp_data / "pope", n=6)
    script(backend, lambda q: "Yes, there is." if any(o in q for o in POPE_YES) else "No.")
    result = POPESuite(POPEOptions(), tmp_data).evaluate(backend, limit=None, batch_size=8)
    assert result.n == 18
    for prefix in ("", "random/", "popular/", "adversarial/"):
        assert result.metrics[f"{prefix}accuracy"] == 1.0 and result.metrics[f"{prefix}f1"] == 1.0
        assert result.metrics[f"{prefix}yes_ratio"] == 0.5
    assert [p["id"] for p in result.predictions][:2] == ["random/1", "random/2"]
    assert {p["category"] for p in result.predictions} == {"random", "popular", "adversarial"}


def test_pope_always_yes_on_one_category_with_limit(tmp_data: Path, backend: FakeBackend, script: Any) -> None:
    write_pope(tmp_data / "pope", n=6)
    script(backend, lambda q: "Yes")
    suite = POPESuite(POPEOptions(categories=["adversarial"]), tmp_data)
    suite.check_data()
    result = suite.evaluate(backend, limit=4, batch_size=8)
    assert result.n == 4
    assert result.metrics == pytest.approx({
        "accuracy": 0.5, "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "yes_ratio": 1.0,
        "adversarial/accuracy": 0.5, "adversarial/precision": 0.5, "adversarial/recall": 1.0,
        "adversarial/f1": 2 / 3, "adversarial/yes_ratio": 1.0, "unreadable_images": 0.0})
    with pytest.raises(ConfigError, match="nonsense"):
        POPESuite(POPEOptions(categories=["nonsense"]), tmp_data).check_data()


def test_pope_from_the_hugging_face_parquet(tmp_data: Path, backend: FakeBackend, script: Any) -> None:
    write_pope_parquet(tmp_data / "pope", n=4)  # lmms-lab/POPE layout: data/test-*.parquet, images as bytes
    calls = script(backend, lambda q: "No, there is not." if "dog" in q else "Yes")
    suite = POPESuite(POPEOptions(), tmp_data)
    suite.check_data()
    result = suite.evaluate(backend, limit=None, batch_size=8)
    # per category: i = 0 cat (yes), 1 dog (no), 2 car (yes), 3 cat (no) -> TP 2, TN 1, FP 1
    assert result.n == 12 and sum(n for n, _ in calls) == 12
    for prefix in ("", "random/", "popular/", "adversarial/"):
        assert result.metrics[f"{prefix}accuracy"] == 0.75 and result.metrics[f"{prefix}precision"] == 2 / 3
        assert result.metrics[f"{prefix}recall"] == 1.0 and result.metrics[f"{prefix}yes_ratio"] == 0.75
    assert [p["id"] for p in result.predictions][:2] == ["random/1", "random/2"]
    assert result.metrics["unreadable_images"] == 0.0


MMMU_ANSWERS = {0: "(A)", 2: "B", 4: "The answer is A.", 1: "10", 3: "I think it is 31", 5: "so it is 50"}


def test_mmmu_overall_and_per_subject(tmp_data: Path, backend: FakeBackend, script: Any) -> None:
    write_mmmu(tmp_data / "mmmu", n=6)
    script(backend, lambda q: MMMU_ANSWERS[int(re.search(r"Question (\d+)", q).group(1))])
    suite = MMMUSuite(MMMUOptions(), tmp_data)
    suite.check_data()
    result = suite.evaluate(backend, limit=None, batch_size=4)
    # Accounting rows 0, 2, 4 (gold A, C, A); Art_Theory rows 1, 3, 5 (gold 10, 30, 50)
    assert result.metrics == pytest.approx({"accuracy": 4 / 6, "accuracy/Accounting": 2 / 3,
                                            "accuracy/Art_Theory": 2 / 3, "unreadable_images": 0.0})
    assert [p["score"] for p in result.predictions] == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    assert result.predictions[1]["subject"] == "Accounting" and result.details["per_subject_n"] == {
        "Accounting": 3, "Art_Theory": 3}


def test_mmmu_unparseable_is_wrong_and_missing_parquet_named(tmp_data: Path, backend: FakeBackend,
                                                              script: Any) -> None:
    write_mmmu(tmp_data / "mmmu", n=2)
    script(backend, lambda q: "no idea")
    result = MMMUSuite(MMMUOptions(), tmp_data).evaluate(backend, limit=None, batch_size=4)
    assert result.metrics["accuracy"] == 0.0
    with pytest.raises(DataLayoutError, match="validation-00000-of-00001.parquet"):
        MMMUSuite(MMMUOptions(), tmp_data / "nowhere").check_data()


def test_decompression_bomb_is_a_counted_skip_not_a_traceback(tmp_data: Path, backend: FakeBackend, script: Any,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    from PIL import Image

    root = write_vqav2(tmp_data / "vqav2", n=3)
    Image.new("RGB", (64, 64)).save(root / "val2014" / "COCO_val2014_000000000101.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 is over twice the limit: PIL refuses it
    calls = script(backend, _vqa_answer)
    with caplog.at_level(logging.WARNING):
        result = VQAv2Suite(VQAv2Options(), tmp_data).evaluate(backend, limit=None, batch_size=8)
    assert calls == [(2, 10)] and result.n == 3 and result.metrics["unreadable_images"] == 1.0
    assert result.predictions[1]["unreadable"] is True and result.predictions[1]["score"] == 0.0
    assert "unigame_vqav2/1" in caplog.text and "too large to decode safely" in caplog.text
