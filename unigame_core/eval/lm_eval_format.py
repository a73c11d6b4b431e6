"""``results_lm_eval.json``: the scores of ``unigame eval`` in lm-eval's own results format.

lm-eval's tooling (``lm_eval.utils.make_table``, the Zeno and W&B exporters, leaderboards' readers)
reads the dictionary that ``simple_evaluate`` returns and ``EvaluationTracker`` saves. This module
writes the same keys from ``results.json`` (so the two files never disagree), one lm-eval "task" per
unigame suite:

* ``results``: ``{suite: {"alias": suite, "<metric>,none": value, "<metric>_stderr,none": "N/A"}}``
  (the filter is ``none``; no bootstrap standard errors are computed);
* ``configs``: ``{suite: {"task", "output_type": "generate_until", "num_fewshot": 0, "metadata"}}``,
  the metadata holding the suite's data, options and the lm-eval tasks that produced it;
* ``versions`` (the version of the suite's lm-eval tasks, ``1.0`` for a suite that names none),
  ``n-shot`` (0), ``higher_is_better``, ``n-samples`` (``original`` = ``effective`` = the suite's ``n``),
  ``group_subtasks`` (empty);
* the run: ``config`` (``model: "unigame"``, ``model_args`` as the ``lm_eval`` command line takes them,
  batch size, device, limit), ``date``, ``lm_eval_version``, ``transformers_version``, ``model_source``,
  ``model_name``, ``model_name_sanitized``, ``total_evaluation_time_seconds``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FILE_NAME = "results_lm_eval.json"
#: Metrics where a lower value is better (``higher_is_better: false``); matched on the name's last part.
LOWER_IS_BETTER = ("yes_ratio", "unreadable_images")


def higher_is_better(metric: str) -> bool:
    """False for a share of "yes" answers or a count of unreadable images, True for every score."""
    return metric.rsplit("/", 1)[-1] not in LOWER_IS_BETTER


def _version(tasks: Mapping[str, Any]) -> Any:
    """The version the suite's tasks share (``1.0`` when it names none; all of them when they differ)."""
    found = [v for v in tasks.values() if v is not None]
    if not found:
        return 1.0
    distinct = sorted({str(v) for v in found})
    return found[0] if len(distinct) == 1 else ", ".join(distinct)


def lm_eval_document(document: Mapping[str, Any], *, device: str | None = None) -> dict[str, Any]:
    """lm-eval's results dictionary for a ``results.json`` document (see the module docstring)."""
    results: dict[str, Any] = {}
    configs: dict[str, Any] = {}
    versions: dict[str, Any] = {}
    higher: dict[str, dict[str, bool]] = {}
    n_samples: dict[str, dict[str, int]] = {}
    for name, suite in document["suites"].items():
        metrics = {row["metric"]: row["value"] for row in document["results"] if row["suite"] == name}
        entry: dict[str, Any] = {"alias": name}
        for metric, value in metrics.items():
            entry[f"{metric},none"] = value
            entry[f"{metric}_stderr,none"] = "N/A"
        results[name] = entry
        tasks = dict(suite.get("details", {}).get("lm_eval_tasks") or {})
        versions[name] = _version(tasks)
        configs[name] = {"task": name, "output_type": "generate_until", "num_fewshot": 0,
                         "metadata": {"version": versions[name], "data": suite.get("data"),
                                      "options": suite.get("options", {}), "lm_eval_tasks": tasks}}
        higher[name] = {metric: higher_is_better(metric) for metric in metrics}
        n_samples[name] = {"original": int(suite["n"]), "effective": int(suite["n"])}
    model_args = f"model={document['model']}" + (f",adapter={document['adapter']}" if document["adapter"] else "")
    seconds = sum(float(s.get("seconds", 0.0)) for s in document["suites"].values())
    versions_installed = document.get("versions", {})
    return {
        "results": results,
        "group_subtasks": {name: [] for name in results},
        "configs": configs,
        "versions": versions,
        "n-shot": {name: 0 for name in results},
        "higher_is_better": higher,
        "n-samples": n_samples,
        "config": {"model": "unigame", "model_args": model_args, "batch_size": document["batch_size"],
                   "batch_sizes": [], "device": device, "use_cache": None, "limit": document["limit"],
                   "bootstrap_iters": 0, "gen_kwargs": None},
        "date": time.time(),
        "lm_eval_version": versions_installed.get("lm_eval", ""),
        "transformers_version": versions_installed.get("transformers", ""),
        "model_source": "unigame",
        "model_name": document["model"],
        "model_name_sanitized": re.sub(r"[\"<>:/|\\?*\[\]]+", "__", str(document["model"])),
        "total_evaluation_time_seconds": str(round(seconds, 3)),
    }


def write_lm_eval_results(output: Path, document: Mapping[str, Any], *, device: str | None = None) -> Path:
    """Write ``<output>/results_lm_eval.json`` next to ``results.json``; returns its path."""
    path = Path(output) / FILE_NAME
    text = json.dumps(lm_eval_document(document, device=device), indent=2, ensure_ascii=False, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    return path
