"""Each metric carries the n of what it was computed on, and ``--limit N`` scores exactly N questions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from unigame_core.eval.judge import from_document, from_results, to_document
from unigame_core.eval.report import SuiteTiming, results_document
from unigame_core.testing import FakeBackend
from unigame_evals.fixtures import write_pope
from unigame_evals.lm_docs import split_limit
from unigame_evals.options import POPEOptions
from unigame_evals.suites import POPESuite


def _n_of(result: Any, suite: str = "s") -> dict[str, int]:
    doc = results_document({suite: result}, {suite: SuiteTiming(1.0, result.n)}, model="m", backend={},
                           adapter=None, data_root=None, limit=None, batch_size=1)
    return {row["metric"]: row["n"] for row in doc["results"]}


@pytest.mark.parametrize(("limit", "parts", "shares"), [(50, 3, [17, 17, 16]), (5, 3, [2, 2, 1]), (2, 3, [1, 1, 0]),
                                                        (6, 3, [2, 2, 2]), (None, 3, [None, None, None])])
def test_a_limit_is_shared_exactly(limit: int | None, parts: int, shares: list[int | None]) -> None:
    assert split_limit(limit, parts) == shares


def test_pope_limit_is_exact_and_each_category_metric_has_its_own_n(tmp_data: Path, backend: FakeBackend,
                                                                     script: Any) -> None:
    write_pope(tmp_data / "pope", n=6)
    script(backend, lambda q: "Yes")
    result = POPESuite(POPEOptions(), tmp_data).evaluate(backend, limit=5, batch_size=8)
    assert result.n == 5 and len(result.predictions) == 5  # 2 + 2 + 1, not 3 x ceil(5 / 3) = 6
    assert [p["category"] for p in result.predictions] == ["random"] * 2 + ["popular"] * 2 + ["adversarial"]
    n_of = _n_of(result)
    assert n_of["f1"] == 5 and n_of["precision"] == 5
    for metric in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
        assert (n_of[f"random/{metric}"], n_of[f"popular/{metric}"], n_of[f"adversarial/{metric}"]) == (2, 2, 1)
    again = from_document(to_document({"pope": result}))["pope"]  # unigame train's before.json keeps them
    assert again.n_of("adversarial/f1") == 1 and from_results({"pope": result})["pope"].n_of("popular/recall") == 2


def test_pope_limit_smaller_than_the_categories_runs_only_the_first(tmp_data: Path, backend: FakeBackend,
                                                                     script: Any) -> None:
    write_pope(tmp_data / "pope", n=6)
    script(backend, lambda q: "Yes")
    result = POPESuite(POPEOptions(), tmp_data).evaluate(backend, limit=2, batch_size=8)
    assert result.n == 2 and [p["category"] for p in result.predictions] == ["random", "popular"]
    assert result.details["categories"] == ["random", "popular"]
    assert "adversarial/accuracy" not in result.metrics
