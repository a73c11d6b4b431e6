"""NaturalBench: the official answer extraction and metrics, both layouts read alike, the suite end to end through
lm-eval against hand-computed scores, the refusals, a corrupt image, ``--limit`` and a paired ``unigame compare``."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from unigame_core import stats
from unigame_core.cli.main import app
from unigame_core.errors import DataError
from unigame_core.eval import judge, report
from unigame_core.interfaces import ScoredRows, SuiteResult
from unigame_core.testing import FakeBackend
from unigame_evals.fixtures import write_naturalbench
from unigame_evals.items import DataLayoutError
from unigame_evals.naturalbench import (
    PAIRS,
    check_naturalbench,
    extract_answer,
    group_rows,
    naturalbench_metrics,
    read_naturalbench,
)
from unigame_evals.options import NaturalBenchOptions
from unigame_evals.suites import NaturalBenchSuite

LAYOUTS = ("release", "lmms-eval")
WHOLE = "NaturalBench scores whole groups, so every group needs all four (image, question) pairs."
GOLD = {"yes_no": ("Yes", "No", "No", "Yes"), "multiple_choice": ("A", "B", "B", "A")}  # the fixture's, official order

# The model's answer to each pair of the 4-group fixture (groups 0, 2 yes/no; 1, 3 multiple choice), with the
# official extraction and whether it is right:
ANSWERS = {
    (0, "q0_i0"): "Yes, it is.",                      # yes  right
    (0, "q0_i1"): "No",                               # no   right
    (0, "q1_i0"): "No, not blue.",                    # no   right
    (0, "q1_i1"): "yes",                              # yes  right      -> group 0 all right
    (1, "q0_i0"): "A",                                # A    right
    (1, "q0_i1"): "Apple",                            # none: "A" inside a word is no letter -> wrong
    (1, "q1_i0"): "B",                                # B    right
    (1, "q1_i1"): "A",                                # A    right      -> question 0 and image 1 fail
    (2, "q0_i0"): "No and yes",                       # both: "no" comes first -> wrong
    (2, "q0_i1"): "Not sure",                         # none ("Not" is not "no") -> wrong
    (2, "q1_i0"): "No, I see no blue. Yes, really.",  # both: "no" first -> right
    (2, "q1_i1"): "Yes",                              # yes  right      -> question 0, both images fail
    (3, "q0_i0"): "It is a red wall, so B",           # the article "a" is the letter A (official) -> right
    (3, "q0_i1"): "B",                                # B    right
    (3, "q1_i0"): "B.",                               # B    right
    (3, "q1_i1"): "Option A",                         # A    right      -> group 3 all right
}
# acc: 4 + 3 + 2 + 4 = 13 of 16 pairs. Questions right on both images: 2, 1, 1, 2 of 2 per group -> 6 / 8.
# Images with both questions right: 2, 1, 0, 2 -> 5 / 8. Groups all right: 0 and 3 -> 2 / 4.
HAND = {"acc": 13 / 16, "q_acc": 0.75, "i_acc": 0.625, "g_acc": 0.5, "unreadable_images": 0.0}


def _pair(question: str, pixels: torch.Tensor) -> tuple[int, str]:
    """The fixture's (group, pair) of a prompt and its image: image 1 is the one with the bright green channel."""
    group, k = map(int, re.search(r"Group (\d+), question (\d)", question).groups())  # type: ignore[union-attr]
    return group, f"q{k}_i{int(float(pixels[1].mean()) > 0.5)}"


def scripted(backend: FakeBackend, answer: Any) -> list[int]:
    """Make ``backend`` answer ``answer(group, pair)``; returns each call's batch size."""
    calls: list[int] = []

    def generate(pixels: torch.Tensor, questions: Any, max_new_tokens: int = 16) -> list[str]:
        calls.append(len(questions))
        return [answer(*_pair(q, image)) for q, image in zip(questions, pixels)]

    backend.understander.generate = generate  # type: ignore[method-assign]
    return calls


def gold(group: int, pair: str) -> str:
    return GOLD["yes_no" if group % 2 == 0 else "multiple_choice"][PAIRS.index(pair)]


def evaluate(root: Path, backend: FakeBackend, limit: int | None = None) -> SuiteResult:
    suite = NaturalBenchSuite(NaturalBenchOptions(), root)
    suite.check_data()
    return suite.evaluate(backend, limit=limit, batch_size=5)


# --- the official extraction -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "kind", "expected"), [
    ("Yes", "yes_no", "yes"), ("NO.", "yes_no", "no"), ("yes, no", "yes_no", "yes"), ("No - yes", "yes_no", "no"),
    ("yesterday", "yes_no", ""), ("Not really", "yes_no", ""), ("", "yes_no", ""), ("I cannot tell.", "yes_no", ""),
    ("B", "multiple_choice", "B"), ("(A)", "multiple_choice", "A"), ("Answer: B", "multiple_choice", "B"),
    ("Apple", "multiple_choice", ""), ("AB", "multiple_choice", ""), ("B-side", "multiple_choice", "B"),
    ("It is a cat, B", "multiple_choice", "A"), ("b", "multiple_choice", "B"), ("None", "multiple_choice", ""),
])
def test_extract_answer_is_the_official_first_whole_word(text: str, kind: str, expected: str) -> None:
    assert extract_answer(text, kind) == expected


# --- the official metrics ----------------------------------------------------------------------------------

def _records(right: dict[str, list[int]]) -> list[dict[str, Any]]:
    return [{"group": g, "pair": p, "score": float(s)} for g, scores in right.items() for p, s in zip(PAIRS, scores)]


def test_metrics_by_hand_on_the_four_shapes_of_a_group() -> None:
    # rights in the order q0_i0, q0_i1, q1_i0, q1_i1
    records = _records({"a": [1, 1, 1, 1], "b": [1, 1, 0, 0], "c": [1, 0, 1, 0], "d": [0, 0, 0, 0]})
    # a: Q 2/2, I 2/2, G; b: Q 1/2 (question 0), I 0/2; c: Q 0/2, I 1/2 (image 0); d: nothing
    assert naturalbench_metrics(records) == {"acc": 8 / 16, "q_acc": 3 / 8, "i_acc": 3 / 8, "g_acc": 1 / 4}
    rows = group_rows(records)
    assert rows[3:6] == [{"id": "b", "level": "questions", "score": 0.5}, {"id": "b", "level": "images", "score": 0.0},
                         {"id": "b", "level": "group", "score": 0.0}]
    assert len(rows) == 12 and sum(r["score"] for r in rows if r["level"] == "questions") / 4 == 3 / 8


def test_a_group_missing_a_pair_is_refused_in_one_sentence() -> None:
    records = _records({"0": [1, 1, 1, 1]})[:3]
    with pytest.raises(DataError) as info:
        naturalbench_metrics(records)
    assert info.value.message == f"NaturalBench group 0 has 3 of its 4 (image, question) pairs (no q1_i1): {WHOLE}"
    assert info.value.hint == "With --limit, give a multiple of 4."
    with pytest.raises(DataError, match="has its pair q0_i0 twice"):
        naturalbench_metrics(records + records[:1])


# --- the two layouts -----------------------------------------------------------------------------------------

def test_both_layouts_give_the_same_pairs_prompts_and_answers(tmp_path: Path) -> None:
    release = read_naturalbench(write_naturalbench(tmp_path / "release", n=2))
    export = read_naturalbench(write_naturalbench(tmp_path / "export", n=2, layout="lmms-eval"))
    assert [(i.id, i.question, i.image, i.references, i.meta) for i in release] == [
        (i.id, i.question, i.image, i.references, i.meta) for i in export]
    assert [i.id for i in release] == ["0/q0_i0", "0/q0_i1", "0/q1_i0", "0/q1_i1",
                                       "1/q0_i0", "1/q0_i1", "1/q1_i0", "1/q1_i1"]
    assert release[2].question == "Group 0, question 1: is the wall blue? Please answer Yes or No."
    assert release[4].question == ("Group 1, question 0: which colour is the wall? Option: A: red; B: blue; "
                                   "Please output the letter corresponding to the correct option.")
    assert release[1].references == ("No",) and release[1].meta == {
        "group": "0", "pair": "q0_i1", "question_type": "yes_no", "answer": "no"}
    assert release[0].image == release[2].image != release[1].image  # image 0 serves both questions
    assert isinstance(release[0].image, bytes) and release[0].image.startswith(b"\x89PNG")
    assert len(read_naturalbench(tmp_path / "release", groups=1)) == 4


@pytest.mark.parametrize("layout", LAYOUTS)
def test_suite_scores_every_metric_as_computed_by_hand(tmp_path: Path, backend: FakeBackend, layout: str) -> None:
    write_naturalbench(tmp_path / "naturalbench", n=4, layout=layout)
    calls = scripted(backend, lambda g, p: ANSWERS[(g, p)])
    result = evaluate(tmp_path, backend)
    assert result.metrics == pytest.approx(HAND) and calls == [5, 5, 5, 1]
    assert result.n == 16 and result.details["groups"] == 4 and result.details["layout"] == layout
    pairs = [r for r in result.predictions if r["level"] == "pair"]
    assert [r["id"] for r in pairs[:5]] == ["0/q0_i0", "0/q0_i1", "0/q1_i0", "0/q1_i1", "1/q0_i0"]
    assert [r["parsed"] for r in pairs[4:12]] == ["A", "", "B", "A", "no", "", "no", "yes"]
    assert [r["score"] for r in pairs[8:12]] == [0.0, 0.0, 1.0, 1.0]
    assert pairs[12]["prediction"] == "It is a red wall, so B" and pairs[12]["score"] == 1.0
    group = {(r["id"], r["level"]): r["score"] for r in result.predictions if r["level"] != "pair"}
    assert [group[("2", level)] for level in ("questions", "images", "group")] == [0.5, 0.0, 0.0]
    assert result.per_question == {"acc": ScoredRows({"level": "pair"}), "q_acc": ScoredRows({"level": "questions"}),
                                   "i_acc": ScoredRows({"level": "images"}), "g_acc": ScoredRows({"level": "group"})}
    scores = judge.from_results({"naturalbench": result})["naturalbench"]
    for metric in ("acc", "q_acc", "i_acc", "g_acc"):  # each metric is the mean of the rows it declares
        assert scores.estimate(metric).value == pytest.approx(HAND[metric])
    assert [scores.estimate(m).n for m in ("acc", "q_acc", "i_acc", "g_acc")] == [16, 4, 4, 4]  # groups: unit
    q_acc = scores.estimate("q_acc")
    assert (q_acc.value, q_acc.low, q_acc.high) == pytest.approx((0.75, 0.4671, 1.0), abs=1e-4)  # 1, .5, .5, 1
    assert (scores.estimate("g_acc").low, scores.estimate("g_acc").high) == pytest.approx(stats.wilson(2, 4))


def test_limit_is_rounded_up_to_whole_groups(tmp_path: Path, backend: FakeBackend) -> None:
    write_naturalbench(tmp_path / "naturalbench", n=4, layout="lmms-eval")
    scripted(backend, gold)
    result = evaluate(tmp_path, backend, limit=5)
    assert result.n == 8 and result.details["groups"] == 2
    assert result.metrics == {"acc": 1.0, "q_acc": 1.0, "i_acc": 1.0, "g_acc": 1.0, "unreadable_images": 0.0}


def test_a_corrupt_image_is_scored_wrong_and_counted(tmp_path: Path, backend: FakeBackend,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    import pyarrow.parquet as pq

    root = write_naturalbench(tmp_path / "naturalbench", n=4)
    path = root / "data" / "train-00000-of-00001.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[1]["Image_1"] = {"bytes": b"not a png at all", "path": None}
    pq.write_table(table.from_pylist(rows, schema=table.schema), path)
    calls = scripted(backend, gold)  # every readable pair right
    with caplog.at_level(logging.WARNING):
        result = evaluate(tmp_path, backend)
    assert sum(calls) == 14  # the two pairs of the corrupt image never reach the model
    # group 1: q0_i1 and q1_i1 wrong -> questions 0/2, images 1/2 (image 0), not all right
    assert result.metrics == pytest.approx({"acc": 14 / 16, "q_acc": 3 / 4, "i_acc": 3.5 / 4, "g_acc": 3 / 4,
                                            "unreadable_images": 2.0})
    bad = [r for r in result.predictions if r.get("unreadable")]
    assert [(r["id"], r["score"], r["prediction"]) for r in bad] == [("1/q0_i1", 0.0, ""), ("1/q1_i1", 0.0, "")]
    assert "unreadable image(s) were scored as wrong" in caplog.text


# --- refusals ------------------------------------------------------------------------------------------------

def test_a_pair_missing_from_the_export_is_refused_naming_its_group(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    root = write_naturalbench(tmp_path / "naturalbench", n=3, layout="lmms-eval")
    path = root / "data" / "test-00000-of-00001.parquet"
    table = pq.read_table(path)
    pq.write_table(table.from_pylist([r for r in table.to_pylist() if r["Index"] != 6], schema=table.schema), path)
    with pytest.raises(DataError) as info:
        check_naturalbench(root)
    assert str(info.value) == (f"NaturalBench group 1 in {root} has 3 of its 4 (image, question) pairs "
                               f"(Index 4-7, no q1_i0): {WHOLE}")


@pytest.mark.parametrize(("column", "value", "message"), [
    ("Image_1_Question_0", None, f" has no Image_1_Question_0: {WHOLE}"),
    ("Question_1", "  ", f" has no Question_1: {WHOLE}"),
    ("Image_0_Question_1", "Maybe", ": a yes_no answer must be yes or no, got 'Maybe'."),
    ("Question_Type", "open", ": Question_Type must be yes_no or multiple_choice, got 'open'."),
])
def test_a_broken_release_row_is_refused_in_one_sentence(tmp_path: Path, column: str, value: Any,
                                                          message: str) -> None:
    import pyarrow.parquet as pq

    root = write_naturalbench(tmp_path / "naturalbench", n=3)
    path = root / "data" / "train-00000-of-00001.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[2][column] = value
    pq.write_table(table.from_pylist(rows, schema=table.schema), path)
    with pytest.raises(DataError) as info:
        check_naturalbench(root)
    assert str(info.value) == f"{path} (row 2){message}"


def test_a_missing_image_is_refused_when_the_images_are_read(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    root = write_naturalbench(tmp_path / "naturalbench", n=2)
    path = root / "data" / "train-00000-of-00001.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[0]["Image_0"] = None
    pq.write_table(table.from_pylist(rows, schema=table.schema), path)
    with pytest.raises(DataError) as info:
        read_naturalbench(root)
    assert str(info.value) == f"{path} (row 0) has no Image_0 (no image bytes and no image file): {WHOLE}"


def test_missing_data_names_both_layouts(tmp_path: Path) -> None:
    with pytest.raises(DataLayoutError) as info:
        NaturalBenchSuite(NaturalBenchOptions(), tmp_path).check_data()
    message = str(info.value)
    assert message.startswith(f"Missing file {tmp_path / 'naturalbench' / 'data' / 'train-00000-of-00001.parquet'}: "
                              "expected the NaturalBench release <root>/data/train-*.parquet")
    assert "lmms-eval export <root>/data/test-*.parquet" in message


# --- unigame compare: paired per group ------------------------------------------------------------------------

def test_compare_pairs_group_metrics_by_group(tmp_path: Path, backend: FakeBackend) -> None:
    write_naturalbench(tmp_path / "naturalbench", n=4)
    folders = {}
    for name, answer in (("a", gold), ("b", lambda g, p: ANSWERS[(g, p)])):
        scripted(backend, answer)
        result = evaluate(tmp_path, backend)
        doc = report.results_document({"naturalbench": result}, {}, model="m", backend={}, adapter=None,
                                      data_root=str(tmp_path), limit=None, batch_size=5)
        folders[name] = report.write_outputs(tmp_path / name, doc, {"naturalbench": result})
    out = CliRunner().invoke(app, ["compare", str(folders["a"]), str(folders["b"])])
    assert out.exit_code == 0, out.output
    lines = {m: next(x for x in out.stdout.splitlines() if f" {m} " in x) for m in ("acc", "q_acc", "g_acc")}
    # q_acc per group: 1, 1, 1, 1 -> 1, .5, .5, 1: differences 0, -.5, -.5, 0 over 4 groups
    assert "-0.250 [-0.533, +0.033]" in lines["q_acc"] and "paired" in lines["q_acc"]
    assert " 4 " in lines["q_acc"] and "-0.500 [-1.066, +0.066]" in lines["g_acc"]
    assert "-0.188 [-0.385, +0.010]" in lines["acc"] and " 16 " in lines["acc"]  # 3 of 16 pairs lost


def test_lm_eval_limit_that_cuts_a_group_is_refused(tmp_path: Path, backend: FakeBackend) -> None:
    """Through lm-eval's own ``--limit`` (``python -m unigame_core.lm_eval``), which knows nothing of groups."""
    from unigame_core.eval.lm_eval_bridge import UnigameLM
    from unigame_core.eval.tasks import run_tasks
    from unigame_evals.plugin import TASKS_DIR

    write_naturalbench(tmp_path / "naturalbench", n=2)
    scripted(backend, gold)
    with pytest.raises(DataError) as info:
        run_tasks(UnigameLM(backend, batch_size=4), ["unigame_naturalbench"], include_paths=[TASKS_DIR],
                  metadata={"data_root": str(tmp_path)}, limit=5)
    assert str(info.value) == (f"NaturalBench group 1 has 1 of its 4 (image, question) pairs (no q0_i1, q1_i0, "
                               f"q1_i1): {WHOLE} With --limit, give a multiple of 4.")
