"""n per split, 95 % intervals in results.json, the before/after verdict, and ``unigame compare``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from unigame_core import stats
from unigame_core.cli.main import app
from unigame_core.eval import judge, report
from unigame_core.interfaces import ScoredRows, SuiteResult


def _shapes_like(test: list[float], shift: list[float]) -> SuiteResult:
    """A suite with two splits of different sizes; ``<split>_accuracy`` is the mean of that split's scores."""
    rows = [{"id": f"t{i}", "split": "test", "score": s} for i, s in enumerate(test)]
    rows += [{"id": f"s{i}", "split": "shift", "score": s} for i, s in enumerate(shift)]
    metrics = {"test_accuracy": sum(test) / len(test), "shift_accuracy": sum(shift) / len(shift),
               "unreadable_images": 0.0}
    return SuiteResult(metrics, len(rows), rows, {},
                       per_question={f"{s}_accuracy": ScoredRows({"split": s}) for s in ("test", "shift")})


def _document(result: SuiteResult) -> dict:
    return report.results_document({"toy": result}, {}, model="m", backend={}, adapter=None, data_root=None,
                                   limit=None, batch_size=1)


def test_results_rows_carry_each_splits_own_n_and_an_interval() -> None:
    doc = _document(_shapes_like([1.0] * 8 + [0.0] * 2, [1.0, 0.0, 0.0]))
    rows = {r["metric"]: r for r in doc["results"]}
    assert rows["test_accuracy"]["n"] == 10 and rows["shift_accuracy"]["n"] == 3  # not the suite's 13
    assert rows["test_accuracy"]["ci95"] == pytest.approx([0.4902, 0.9433], abs=1e-4)
    assert rows["unreadable_images"]["n"] == 13 and rows["unreadable_images"]["ci95"] is None
    assert doc["suites"]["toy"]["per_question"]["test_accuracy"] == {"where": {"split": "test"}, "scale": 1.0}


def test_before_after_on_the_same_questions_is_paired_with_a_verdict() -> None:
    before = judge.from_document(judge.to_document({"toy": _shapes_like([0.0] * 10, [1.0, 1.0, 1.0])}))
    after = judge.from_results({"toy": _shapes_like([1.0] * 6 + [0.0] * 4, [1.0, 1.0, 1.0])})
    rows = {r.metric: r for r in judge.compare(before, after)}
    test = rows["test_accuracy"]
    assert test.paired is True and (test.n_before, test.n_after) == (10, 10)
    assert test.change == pytest.approx(0.6) and test.change_ci95 == pytest.approx([0.2799, 0.9201], abs=1e-4)
    assert test.verdict == stats.BETTER and rows["shift_accuracy"].verdict == stats.SAME
    assert rows["unreadable_images"].paired is None and rows["unreadable_images"].verdict == judge.NO_INTERVAL


def test_different_questions_give_an_unpaired_interval() -> None:
    a = judge.from_results({"toy": _shapes_like([1.0, 1.0, 0.0, 0.0], [1.0, 0.0])})
    b_result = _shapes_like([1.0, 1.0, 1.0, 0.0], [1.0, 0.0])
    for row in b_result.predictions:
        row["id"] = "other-" + row["id"]
    test = {r.metric: r for r in judge.compare(a, judge.from_results({"toy": b_result}))}["test_accuracy"]
    assert test.paired is False and test.change_ci95 == pytest.approx([-0.4985, 0.9985], abs=1e-4)


def _write_run(folder: Path, result: SuiteResult) -> Path:
    return report.write_outputs(folder, _document(result), {"toy": result})


def test_compare_command_prints_the_paired_difference(tmp_path: Path) -> None:
    a = _write_run(tmp_path / "a", _shapes_like([0.0] * 10, [1.0, 0.0, 1.0]))
    b = _write_run(tmp_path / "b", _shapes_like([1.0] * 6 + [0.0] * 4, [1.0, 0.0, 1.0]))
    result = CliRunner().invoke(app, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if "test_accuracy" in x)
    assert "+0.600 [+0.280, +0.920]" in line and "paired" in line and "better" in line


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("{not json", "is not valid JSON"),
    ('{"model": "m"}', "is not a results.json"),
    ('{"suites": {"shapes": 1}, "results": []}', "suites.shapes is malformed"),
    ('{"suites": {"s": {"n": 1}}, "results": [{"suite": "s", "metric": "m", "value": "high"}]}',
     "results[0] is malformed"),
    ('{"suites": {}, "results": [3]}', "results[0] is malformed"),
    ('{"suites": {"other": {"n": 1}}, "results": [{"suite": "other", "metric": "accuracy", "value": 1.0}]}',
     "share no suite and metric"),
])
def test_compare_with_a_missing_or_incompatible_file_exits_2(tmp_path: Path, content: str | None,
                                                               message: str) -> None:
    good = _write_run(tmp_path / "a", _shapes_like([1.0, 0.0], [1.0, 0.0]))
    bad = tmp_path / "b" / "results.json"
    if content is not None:
        bad.parent.mkdir()
        bad.write_text(content)
    result = CliRunner().invoke(app, ["compare", str(good), str(bad)])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert len([x for x in result.output.splitlines() if x.strip()]) <= 3  # one sentence (and its hint), wrapped


@pytest.mark.usefixtures("fake_plugins")
def test_every_declared_metric_is_the_mean_of_its_rows(data_root: Path, tmp_path: Path) -> None:
    """The contract the intervals rest on, checked on the official suites and the shapes world."""
    out = tmp_path / "out"
    args = ["eval", "--model", "fake-tiny", "--suite", "vqav2,mmmu,pope,shapes", "--data-root", str(data_root),
            "--batch-size", "6", "--output", str(out), "-O", "shapes.samples=3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    runs = judge.load_results(out / "results.json")
    checked = 0
    for name, suite in runs.items():
        assert suite.per_question, name
        for metric, spec in suite.per_question.items():
            scores = suite.scores(metric)
            assert scores, (name, metric)
            assert suite.metrics[metric] == pytest.approx(spec.scale * sum(scores.values()) / len(scores))
            checked += 1
    assert checked >= 10


def _table_at(width: int) -> str:
    import io

    from rich.console import Console

    from unigame_core.eval.judge import Comparison, comparison_table

    rows = [Comparison("vqav2", "accuracy", 62.5, 64.25, 1000, 1000, [59.5, 65.5], [61.25, 67.25], 1.75,
                       [-0.5, 4.0], True, "no change"),
            Comparison("naturalbench", "question_accuracy", 40.125, 45.5, 1900, 1900, [38.0, 42.2], [43.1, 47.9],
                       5.375, [3.1, 7.6], True, "better"),
            Comparison("mmmu", "accuracy", 33.0, 33.0, 900, 900, None, None, 0.0, None, None, "-")]
    console = Console(file=io.StringIO(), width=width)
    console.print(comparison_table(rows, "UniGame: before / after", width=width))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_the_before_after_table_folds_into_80_columns_without_cutting_a_figure() -> None:
    text = _table_at(80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text, text
    for whole in ("naturalbench", "question_accuracy", "[59.5, 65.5]", "[-0.500, +4.0]", "[+3.1, +7.6]", "n=1900",
                  "no change", "better", "paired"):
        assert whole in text, (whole, text)


def test_a_wide_table_keeps_one_line_per_metric() -> None:
    lines = [line for line in _table_at(220).splitlines() if "naturalbench" in line]
    assert len(lines) == 1 and "[38.0, 42.2]" in lines[0] and "1900" in lines[0] and "better" in lines[0]
