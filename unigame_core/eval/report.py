"""What ``unigame eval`` writes and prints: ``results.json``, ``predictions/<suite>.jsonl``, a table.

``results.json`` (``schema_version`` 1)::

    {"schema_version": 1, "created": ISO time, "model": str, "backend": {resolved settings},
     "adapter": str | null, "data_root": str | null, "limit": int | null, "batch_size": int,
     "versions": {"unigame": ..., "lm_eval": ..., "torch": ..., "python": ...},
     "suites": {name: {"n", "data", "seconds", "samples_per_s", "details", "options", "per_question"}},
     "results": [{"suite", "metric", "value", "n", "ci95", "model", "adapter", "data"}, ...]}

A metric that is a mean of per-question scores (``SuiteResult.per_question``, recorded under
``suites.<name>.per_question`` so ``unigame compare`` can re-read its questions from the predictions)
has its own ``n`` (one split's questions, not the suite's total) and a 95 % interval ``ci95``
``[low, high]``; other metrics have the suite's ``n`` and ``ci95: null``. ``options`` holds only the
options the run applied (a suite names the others in ``SuiteResult.unused_options``).

Each predictions line: ``{"id", "question", "prediction", "references", "score", ...suite extras}``.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..interfaces import SuiteResult
from .judge import from_results

SCHEMA_VERSION = 1
_DISTRIBUTIONS = ("unigame", "lm_eval", "torch", "transformers", "peft", "datasets")


@dataclass
class SuiteTiming:
    """Wall-clock seconds of one suite (data, generation, scoring) and its sample count."""

    seconds: float
    n: int

    @property
    def samples_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else 0.0


def versions() -> dict[str, str]:
    """Installed versions of the packages that decide the numbers."""
    found = {"python": platform.python_version()}
    for dist in _DISTRIBUTIONS:
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = ""
    return found


def results_document(
    results: Mapping[str, SuiteResult],
    timings: Mapping[str, SuiteTiming],
    *,
    model: str,
    backend: dict[str, Any],
    adapter: str | None,
    data_root: str | None,
    limit: int | None,
    batch_size: int,
    options: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The content of ``results.json`` (see the module docstring); ``options``: each suite's options as run."""
    suites: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    judged = from_results(results)
    for name, result in results.items():
        data = str(result.details.get("data", "")) or None
        timing = timings.get(name, SuiteTiming(0.0, result.n))
        suites[name] = {"n": result.n, "data": data, "seconds": round(timing.seconds, 3),
                        "samples_per_s": round(timing.samples_per_s, 3), "details": result.details}
        if options and name in options:
            suites[name]["options"] = {k: v for k, v in options[name].items() if k not in result.unused_options}
        suites[name]["per_question"] = {m: {"where": rows_of.where, "scale": rows_of.scale}
                                        for m, rows_of in result.per_question.items()}
        for metric, value in result.metrics.items():
            estimate = judged[name].estimate(metric)
            ci = [estimate.low, estimate.high] if estimate is not None and estimate.n else None
            rows.append({"suite": name, "metric": metric, "value": float(value), "n": judged[name].n_of(metric),
                         "ci95": ci, "model": model, "adapter": adapter, "data": data})
    return {
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": model, "backend": backend, "adapter": adapter, "data_root": data_root,
        "limit": limit, "batch_size": batch_size, "versions": versions(),
        "suites": suites, "results": rows,
    }


def write_outputs(output: Path, document: dict[str, Any], results: Mapping[str, SuiteResult]) -> Path:
    """Write ``results.json`` and one predictions JSONL per suite under ``output``; returns results.json."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "predictions").mkdir(exist_ok=True)
    for name, result in results.items():
        with open(output / "predictions" / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for row in result.predictions:
                f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    path = output / "results.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def print_table(document: dict[str, Any]) -> None:
    """One row per (suite, metric) on stdout, with each suite's throughput below."""
    from rich.table import Table

    from ..console import out

    adapter = f" + {document['adapter']}" if document["adapter"] else ""
    table = Table("suite", "metric", "value", "95 % CI", "n", title=f"{document['model']}{adapter}")
    for row in document["results"]:
        value, ci = row["value"], row.get("ci95")
        shown = str(int(value)) if row["metric"] == "unreadable_images" else f"{value:.4f}"
        table.add_row(row["suite"], row["metric"], shown, f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "-", str(row["n"]))
    out.print(table)
    for name, suite in document["suites"].items():
        out.print(f"{name}: {suite['n']} samples in {suite['seconds']:.1f} s ({suite['samples_per_s']:.1f} samples/s)",
                  highlight=False)
