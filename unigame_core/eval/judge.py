"""Honest numbers for a suite's metrics: n, a 95 % interval, and a before/after verdict.

A metric a suite declares in ``SuiteResult.per_question`` is a mean of per-question ``score``s over
some prediction rows; those rows give its n and its interval, and, when two runs scored the same
question ids, a PAIRED difference (``unigame_core.stats``). Used by ``unigame train`` (the before/after
table and ``before_after.json``) and ``unigame compare`` (two ``results.json`` files).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import stats
from ..errors import DataError
from ..interfaces import ScoredRows, SuiteResult

NO_INTERVAL = "no interval (not a per-question mean)"


@dataclass
class SuiteScores:
    """What judging needs of one suite's run: its metrics, n, per-question declarations and predictions."""

    metrics: dict[str, float]
    n: int
    per_question: dict[str, ScoredRows] = field(default_factory=dict)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # SuiteResult.counts

    def scores(self, metric: str) -> dict[str, float] | None:
        """``{question id: score}`` of the rows ``metric`` averages; None when it is not a per-question mean
        (or the rows are missing, or ids repeat so questions cannot be told apart)."""
        spec = self.per_question.get(metric)
        if spec is None or not self.predictions:
            return None
        rows = [r for r in self.predictions if all(str(r.get(k)) == str(v) for k, v in spec.where.items())]
        found = {str(r["id"]): float(r["score"]) for r in rows if "id" in r and "score" in r}
        return found if found and len(found) == len(rows) else None

    def estimate(self, metric: str) -> stats.Estimate | None:
        """The metric's n and 95 % interval, from its questions (None when it is not a per-question mean)."""
        found = self.scores(metric)
        if found is None:
            return None
        return stats.mean_interval(list(found.values()), self.per_question[metric].scale)

    def n_of(self, metric: str) -> int:
        """Units behind ``metric``: its own rows when declared (one split of a suite), else its declared count
        (a category's questions, the images), else the suite's n."""
        found = self.scores(metric)
        return len(found) if found is not None else self.counts.get(metric, self.n)


def from_results(results: Mapping[str, SuiteResult]) -> dict[str, SuiteScores]:
    return {name: SuiteScores(dict(r.metrics), r.n, dict(r.per_question), list(r.predictions), dict(r.counts))
            for name, r in results.items()}


def to_document(results: Mapping[str, SuiteResult]) -> dict[str, Any]:
    """JSON-ready scores of a run (``before.json`` of ``unigame train``): metrics, n, the per-question
    declarations, and of each prediction only its id, score and the fields a declaration selects on."""
    doc: dict[str, Any] = {}
    for name, r in results.items():
        keys = {"id", "score"} | {k for spec in r.per_question.values() for k in spec.where}
        doc[name] = {"metrics": dict(r.metrics), "n": r.n, "counts": dict(r.counts),
                     "per_question": {m: asdict(spec) for m, spec in r.per_question.items()},
                     "predictions": [{k: row[k] for k in keys if k in row} for row in r.predictions]
                     if r.per_question else []}
    return doc


def from_document(doc: Mapping[str, Any]) -> dict[str, SuiteScores]:
    """The inverse of :func:`to_document`; an older ``{suite: {metric: value}}`` gives metrics only."""
    suites: dict[str, SuiteScores] = {}
    for name, entry in doc.items():
        if "metrics" not in entry:  # written before per-question scores were kept
            suites[name] = SuiteScores({k: float(v) for k, v in entry.items()}, 0)
            continue
        declared = {m: ScoredRows(dict(spec.get("where", {})), float(spec.get("scale", 1.0)))
                    for m, spec in entry.get("per_question", {}).items()}
        suites[name] = SuiteScores(dict(entry["metrics"]), int(entry.get("n", 0)), declared,
                                   list(entry.get("predictions", [])),
                                   {k: int(v) for k, v in entry.get("counts", {}).items()})
    return suites


def load_results(path: Path) -> dict[str, SuiteScores]:
    """A ``results.json`` of ``unigame eval`` with the ``predictions/`` written next to it (when present)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.is_file():
        raise DataError(f"Results file '{path}' does not exist.", "Pass the results.json that 'unigame eval' wrote.")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"'{path}' is not valid JSON ({exc.msg if hasattr(exc, 'msg') else exc}).") from None
    if not isinstance(document, dict) or not isinstance(document.get("suites"), dict) \
            or not isinstance(document.get("results"), list):
        raise DataError(f"'{path}' is not a results.json of 'unigame eval' (no 'suites' and 'results').")
    suites: dict[str, SuiteScores] = {}
    where = "suites"
    try:  # a results.json edited by hand or written by something else: say where, not a traceback
        for name, suite in document["suites"].items():
            where = f"suites.{name}"
            declared = {m: ScoredRows(dict(s.get("where", {})), float(s.get("scale", 1.0)))
                        for m, s in (suite.get("per_question") or {}).items()}
            suites[name] = SuiteScores({}, int(suite.get("n", 0)), declared, _predictions(path.parent, name))
        for i, row in enumerate(document["results"]):
            where = f"results[{i}]"
            if row.get("suite") in suites and "metric" in row and "value" in row:
                suites[row["suite"]].metrics[row["metric"]] = float(row["value"])
    except (AttributeError, TypeError, ValueError) as exc:
        raise DataError(f"'{path}' is not a results.json of 'unigame eval': {where} is malformed ({exc}).") from None
    return suites


def _predictions(folder: Path, suite: str) -> list[dict[str, Any]]:
    path = folder / "predictions" / f"{suite}.jsonl"
    if not path.is_file():
        return []
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except json.JSONDecodeError:
        raise DataError(f"'{path}' is not valid JSON lines.") from None


@dataclass
class Comparison:
    """One metric before and after, with n, 95 % intervals and the verdict (see ``stats``)."""

    suite: str
    metric: str
    before: float
    after: float
    n_before: int
    n_after: int
    before_ci95: list[float] | None
    after_ci95: list[float] | None
    change: float
    change_ci95: list[float] | None
    paired: bool | None  # None: no interval (the metric is not a per-question mean)
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _bounds(low: float, high: float) -> list[float] | None:
    return None if math.isnan(low) or math.isnan(high) else [low, high]


def compare_metric(suite: str, metric: str, before: SuiteScores, after: SuiteScores) -> Comparison:
    """Paired when both runs scored exactly the same question ids, unpaired otherwise."""
    old, new = before.metrics.get(metric, math.nan), after.metrics.get(metric, math.nan)
    a, b = before.scores(metric), after.scores(metric)
    ea, eb = before.estimate(metric), after.estimate(metric)
    ci_a = _bounds(ea.low, ea.high) if ea else None
    ci_b = _bounds(eb.low, eb.high) if eb else None
    if a is None or b is None or before.per_question[metric] != after.per_question[metric]:
        return Comparison(suite, metric, old, new, before.n_of(metric), after.n_of(metric), ci_a, ci_b,
                          new - old, None, None, NO_INTERVAL)
    scale = before.per_question[metric].scale
    if set(a) == set(b):
        diff = stats.paired_difference(a, b, scale)
    else:
        diff = stats.unpaired_difference(list(a.values()), list(b.values()), scale)
    return Comparison(suite, metric, old, new, len(a), len(b), ci_a, ci_b, new - old,
                      _bounds(diff.low, diff.high), diff.paired, diff.verdict)


def compare(before: Mapping[str, SuiteScores], after: Mapping[str, SuiteScores]) -> list[Comparison]:
    """Every (suite, metric) present in both runs, in ``before``'s order."""
    return [compare_metric(suite, metric, scores, after[suite])
            for suite, scores in before.items() if suite in after
            for metric in scores.metrics if metric in after[suite].metrics]


def _fmt(value: float, digits: int = 3, sign: bool = False) -> str:
    if math.isnan(value):
        return "-"
    digits = digits if abs(value) <= 1.5 else 1
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _with_ci(value: float, ci: list[float] | None, sign: bool = False) -> str:
    shown = _fmt(value, sign=sign)
    return shown if ci is None else f"{shown} [{_fmt(ci[0], sign=sign)}, {_fmt(ci[1], sign=sign)}]"


def print_comparison(rows: list[Comparison], title: str, before: str = "before", after: str = "after") -> None:
    """The table on stdout; piped into a file or a log it keeps one line per metric (no 80-column wrap), on a
    narrow terminal it folds each metric into a few lines (``comparison_table``)."""
    from rich.console import Console

    from ..console import out

    console = out if out.is_terminal else Console(file=out.file, width=220)
    console.print(comparison_table(rows, title, before, after, width=console.width))


COMPACT_BELOW = 130  # columns: a narrower table stacks each value over its interval and n


def comparison_table(rows: list[Comparison], title: str, before: str = "before", after: str = "after",
                     width: int | None = None) -> Any:
    """A rich table: each side with its 95 % interval and n, the change with its interval, the verdict.
    Narrower than ``COMPACT_BELOW`` columns, each cell stacks its parts (value, interval, n) on lines of
    their own, the suite over the metric and the test under the verdict, so 80 columns cut no figure."""
    from rich import box
    from rich.table import Table

    if width is not None and width < COMPACT_BELOW:
        table = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1))
        for header in ("suite / metric", before, after, "change", "verdict"):
            table.add_column(header, overflow="fold")
        for r in rows:
            test = "" if r.paired is None else ("\n(paired)" if r.paired else "\n(unpaired)")
            table.add_row(f"{r.suite}\n{r.metric}", _stacked(r.before, r.before_ci95, r.n_before),
                          _stacked(r.after, r.after_ci95, r.n_after), _stacked(r.change, r.change_ci95, sign=True),
                          r.verdict + test, end_section=True)
        return table
    table = Table("suite", "metric", f"{before} [95 % CI]", "n", f"{after} [95 % CI]", "n",
                  "change [95 % CI]", "test", "verdict", title=title)
    for r in rows:
        test = "-" if r.paired is None else ("paired" if r.paired else "unpaired")
        table.add_row(r.suite, r.metric, _with_ci(r.before, r.before_ci95), str(r.n_before),
                      _with_ci(r.after, r.after_ci95), str(r.n_after), _with_ci(r.change, r.change_ci95, sign=True),
                      test, r.verdict)
    return table


def _stacked(value: float, ci: list[float] | None, n: int | None = None, sign: bool = False) -> str:
    lines = [_fmt(value, sign=sign)]
    if ci is not None:
        lines.append(f"[{_fmt(ci[0], sign=sign)}, {_fmt(ci[1], sign=sign)}]")
    if n is not None:
        lines.append(f"n={n}")
    return "\n".join(lines)
