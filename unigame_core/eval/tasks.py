"""Run a suite plugin's lm-eval tasks with ``UnigameLM`` and read lm-eval's output back.

The TaskManager indexes only the directories given (``include_defaults=False``): a few YAML files
instead of lm-eval's thousands, so it starts in milliseconds. Tasks are run with
``lm_eval.evaluator.evaluate`` (not ``simple_evaluate``, which also collects environment and git
information on every call). Each task's ``process_results`` returns, for every metric, one record
dict holding at least ``score`` (the per-sample score) and ``unreadable``; :func:`predictions` turns
lm-eval's logged samples into the rows of ``predictions/<suite>.jsonl``.
"""

from __future__ import annotations

from .common import UNREADABLE, enable_offline

enable_offline()  # before lm_eval imports datasets

import functools  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
from collections.abc import Iterator, Mapping, Sequence  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from lm_eval import evaluator  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from .lm_eval_bridge import UnigameLM  # noqa: E402


@dataclass
class TaskOutput:
    """One lm-eval task's (or group's) aggregated metrics and its logged samples, name and version."""

    metrics: dict[str, float]
    n: int
    samples: list[dict[str, Any]] = field(default_factory=list)
    name: str = ""
    version: Any = None  # the task YAML's metadata.version, as lm-eval reports it


def task_manager(include_paths: Sequence[str | Path], metadata: Mapping[str, Any] | None = None) -> TaskManager:
    """A TaskManager over ``include_paths`` only; ``metadata`` reaches every task's ``custom_dataset``."""
    return TaskManager(include_path=[str(p) for p in include_paths], include_defaults=False,
                       metadata=dict(metadata or {}))


def run_tasks(
    lm: UnigameLM,
    tasks: Sequence[str],
    *,
    include_paths: Sequence[str | Path],
    metadata: Mapping[str, Any] | None = None,
    limit: int | Mapping[str, int] | None = None,
    max_new_tokens: int | None = None,
) -> dict[str, TaskOutput]:
    """Load ``tasks`` (task or group names), evaluate them with ``lm``; returns tasks and groups by name.

    ``limit`` caps the samples of each task: one number for all, or one per task name (``{task: n}``, each
    at least 1: the first ``n`` docs of that task, e.g. a suite-wide ``--limit`` shared exactly between its
    tasks); ``max_new_tokens`` overrides the tasks' ``max_gen_toks``.
    """
    with _quiet_lm_eval():
        loaded = task_manager(include_paths, metadata).load(list(tasks))
        if max_new_tokens is not None:
            for task in loaded["tasks"].values():
                task.set_config(key="generation_kwargs", value={"max_gen_toks": int(max_new_tokens)}, update=True)
        chosen = None
        if isinstance(limit, Mapping):  # lm-eval takes one limit for all tasks, or the doc indices of each
            chosen = {name: list(range(min(int(limit[name]), len(task.eval_docs))))
                      for name, task in loaded["tasks"].items() if name in limit}
            limit = None
        results = evaluator.evaluate(lm=lm, task_dict=loaded, limit=limit, samples=chosen, bootstrap_iters=0,
                                     log_samples=True)
    assert results is not None  # single process: rank 0 always gets results
    samples = results.get("samples", {})
    n_samples = results.get("n-samples", {})
    out: dict[str, TaskOutput] = {}
    for section in ("results", "groups"):
        for name, values in results.get(section, {}).items():
            if name in out:
                continue
            metrics = _metrics(values)
            logged = samples.get(name, [])
            n = n_samples.get(name, {}).get("effective", len(logged))
            if not logged and name in results.get("group_subtasks", {}):
                n = sum(out[c].n if c in out else n_samples.get(c, {}).get("effective", 0)
                        for c in results["group_subtasks"][name])
            out[name] = TaskOutput(metrics, int(n), logged, name=name, version=results.get("versions", {}).get(name))
    return out


class _DropCustomDatasetHint(logging.Filter):
    """lm-eval warns on every task with a ``custom_dataset`` that kwargs can be passed: not for our users."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Custom kwargs can be passed" not in record.getMessage()


@contextmanager
def _quiet_lm_eval() -> Iterator[None]:
    """Silence lm-eval's per-task ``custom_dataset`` hint and its request-building bars while tasks run.

    The bars are a module-level ``tqdm`` in ``lm_eval.api.task`` with no switch: swapped for the
    duration only (our own logs report progress and samples/s).
    """
    import lm_eval.api.task as task_module

    task_log = logging.getLogger("lm_eval.api.task")
    hint = _DropCustomDatasetHint()
    task_log.addFilter(hint)
    bar = task_module.tqdm
    task_module.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        task_module.tqdm = bar
        task_log.removeFilter(hint)


def _metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """``{"accuracy,none": 0.5, "accuracy_stderr,none": "N/A", "alias": ...}`` -> ``{"accuracy": 0.5}``."""
    metrics: dict[str, float] = {}
    for key, value in values.items():
        name, sep, _ = key.partition(",")
        if not sep or name.endswith("_stderr") or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isnan(float(value)):  # a breakdown with no sample of its kind
            metrics[name] = float(value)
    return metrics


def predictions(output: TaskOutput, score_metric: str) -> list[dict[str, Any]]:
    """One row per sample: ``id, question, prediction, references, score`` plus the record's extras.

    ``score_metric`` names the metric whose per-sample record carries the score. A sample whose
    image could not be read has ``prediction: ""`` and ``unreadable: true``.
    """
    rows = []
    for sample in sorted(output.samples, key=lambda s: s["doc_id"]):
        doc = sample["doc"]
        response = sample["filtered_resps"][0] if sample["filtered_resps"] else ""
        record = dict(sample.get(score_metric) or {})
        unreadable = bool(record.pop("unreadable", False)) or response == UNREADABLE
        row = {
            "id": str(doc.get("id", sample["doc_id"])),
            "question": doc.get("question", ""),
            "prediction": "" if response == UNREADABLE else response,
            "references": list(doc.get("references") or [sample.get("target", "")]),
            "score": float(record.pop("score", 0.0)),
        }
        row.update({k: v for k, v in record.items() if k not in row})
        if unreadable:
            row["unreadable"] = True
        rows.append(row)
    return rows
