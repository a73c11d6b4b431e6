"""The official-benchmark suites: VQAv2, POPE, MMMU, NaturalBench, AdVQA, each a set of this package's lm-eval tasks.

A suite checks its files (``check_data``, before any model loads), then runs its tasks through
lm-eval with the backend wrapped in ``UnigameLM`` and reads metrics and per-sample predictions back.
The metric code is this package's port of each benchmark's official script (``vqav2.py``, also AdVQA's,
``pope.py``, ``mmmu.py``, ``naturalbench.py``), wired into the task YAMLs in ``tasks/`` by ``lm_metrics.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from unigame_core.interfaces import Backend, ScoredRows, Suite, SuiteResult

from . import lm_docs
from .advqa import read_advqa
from .mmmu import check_mmmu, mmmu_aggregate
from .naturalbench import check_naturalbench, group_rows, layout_of, whole_groups
from .pope import CATEGORIES, check_pope
from .vqav2 import read_vqav2

if TYPE_CHECKING:
    from unigame_core.eval.lm_eval_bridge import GenerationStats
    from unigame_core.eval.tasks import TaskOutput

log = logging.getLogger(__name__)

TASKS_DIR = Path(__file__).parent / "tasks"


class LMEvalSuite(Suite):
    """Runs lm-eval tasks with ``UnigameLM``; subclasses name the tasks and summarise.

    ``tasks_dir`` is the folder of the subclass's task YAMLs (another plugin's suite sets its own).
    """

    name: ClassVar[str] = ""
    tasks_dir: ClassVar[Path] = TASKS_DIR

    def __init__(self, options: Any, data_root: Path | None = None) -> None:
        self.options = options
        self.data_root = Path(data_root) if data_root else None

    def data_dir(self) -> Path:
        """``options.path`` or ``<data_root>/<suite>`` (DataError when neither is known)."""
        return lm_docs.data_dir(self.name, self.options.path, self.data_root)

    def run(self, backend: Backend, tasks: Sequence[str], metadata: Mapping[str, Any], *,
            limit: int | Mapping[str, int] | None, batch_size: int) -> tuple[dict[str, TaskOutput], GenerationStats]:
        """Evaluate ``tasks`` with ``backend`` (``limit``: one for every task, or per task name); lm-eval (and
        datasets) are imported only here."""
        from unigame_core.eval.lm_eval_bridge import UnigameLM
        from unigame_core.eval.tasks import run_tasks

        lm = UnigameLM(backend, batch_size=batch_size, max_new_tokens=self.options.max_new_tokens)
        try:
            outputs = run_tasks(lm, tasks, include_paths=[self.tasks_dir], metadata=metadata, limit=limit,
                                max_new_tokens=self.options.max_new_tokens)
        finally:
            lm.close()
        return outputs, lm.stats

    def result(self, metrics: dict[str, float], outputs: Sequence[TaskOutput], stats: GenerationStats,
               score_metric: str = "accuracy", **details: Any) -> SuiteResult:
        """Bundle metrics, the predictions of ``outputs`` and the run's figures into a SuiteResult."""
        from unigame_core.eval.tasks import predictions

        rows = [row for output in outputs for row in predictions(output, score_metric)]
        unreadable = sum(1 for row in rows if row.get("unreadable"))
        if unreadable:
            log.warning("%s: %d unreadable image(s) were scored as wrong", self.name, unreadable)
        metrics["unreadable_images"] = float(unreadable)
        details.update(generated=stats.generated, cached=stats.cached, generation_seconds=stats.seconds,
                       samples_per_s=stats.samples_per_s, lm_eval_tasks={o.name: o.version for o in outputs})
        return SuiteResult(metrics=metrics, n=len(rows), predictions=rows, details=details)


class VQAv2Suite(LMEvalSuite):
    """VQAv2: official VQA accuracy (percent), overall and per answer type."""

    name = "vqav2"

    def check_data(self) -> None:
        read_vqav2(self.data_dir(), self.options.split)  # every file, every image path

    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        root = self.data_dir()
        meta = {"vqav2_path": str(root), "vqav2_split": self.options.split, "limit": limit}
        outputs, stats = self.run(backend, ["unigame_vqav2"], meta, limit=limit, batch_size=batch_size)
        out = outputs["unigame_vqav2"]
        return vqa_result(self.result(dict(out.metrics), [out], stats, data=str(root), split=self.options.split))


def vqa_result(result: SuiteResult) -> SuiteResult:
    """A VQA-accuracy suite's per-question metrics: overall and per answer type, in percent (the official script)."""
    types = {"accuracy_yes_no": "yes/no", "accuracy_number": "number", "accuracy_other": "other"}
    result.per_question = {"accuracy": ScoredRows(scale=100.0)}
    result.per_question.update({m: ScoredRows({"answer_type": t}, 100.0) for m, t in types.items()
                                if m in result.metrics})
    return result


class POPESuite(LMEvalSuite):
    """POPE: per category and averaged over categories (unweighted, as POPE is reported)."""

    name = "pope"

    def categories(self) -> list[str]:
        unknown = [c for c in self.options.categories if c not in CATEGORIES]
        if unknown or not self.options.categories:
            from unigame_core.errors import ConfigError

            raise ConfigError(f"Unknown POPE categories {unknown}.", f"Choose among {', '.join(CATEGORIES)}.")
        return list(self.options.categories)

    def check_data(self) -> None:
        check_pope(self.data_dir(), categories=tuple(self.categories()))

    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        root, categories = self.data_dir(), self.categories()
        shares = dict(zip(categories, lm_docs.split_limit(limit, len(categories))))  # --limit N: N in all
        categories = [c for c in categories if shares[c] != 0]  # --limit under 3: the first categories only
        tasks = {c: f"unigame_pope_{c}" for c in categories}
        per_task = None if limit is None else {tasks[c]: int(shares[c]) for c in categories}  # type: ignore[arg-type]
        most = None if per_task is None else max(per_task.values())  # what a category's reader reads at most
        outputs, stats = self.run(backend, list(tasks.values()), {"pope_path": str(root), "limit": most},
                                  limit=per_task, batch_size=batch_size)
        metrics: dict[str, float] = {}
        per_category = {c: outputs[t].metrics for c, t in tasks.items()}
        for key in ("accuracy", "precision", "recall", "f1", "yes_ratio"):
            metrics[key] = sum(m[key] for m in per_category.values()) / len(per_category)
        for category, values in per_category.items():
            metrics.update({f"{category}/{k}": v for k, v in values.items()})
        result = self.result(metrics, [outputs[t] for t in tasks.values()], stats, data=str(root),
                             categories=categories)
        result.per_question = {f"{c}/accuracy": ScoredRows({"category": c}) for c in categories}
        result.counts = {f"{c}/{k}": outputs[t].n for c, t in tasks.items() for k in per_category[c]}
        return result


class MMMUSuite(LMEvalSuite):
    """MMMU: accuracy (fraction) overall and per subject; unparseable answers are wrong (no random pick)."""

    name = "mmmu"

    def check_data(self) -> None:
        check_mmmu(self.data_dir(), self.options.split)

    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        root = self.data_dir()
        meta = {"mmmu_path": str(root), "mmmu_split": self.options.split, "limit": limit}
        outputs, stats = self.run(backend, ["unigame_mmmu"], meta, limit=limit, batch_size=batch_size)
        out = outputs["unigame_mmmu"]
        records = [s["accuracy"] for s in out.samples]
        summary = mmmu_aggregate(records)
        metrics = dict(out.metrics)
        metrics.update({f"accuracy/{subject}": v for subject, v in summary["per_subject"].items()})
        result = self.result(metrics, [out], stats, data=str(root), split=self.options.split,
                             per_subject_n=summary["per_subject_num"])
        result.per_question = {"accuracy": ScoredRows()}
        result.per_question.update({f"accuracy/{s}": ScoredRows({"subject": s}) for s in summary["per_subject"]})
        return result


class AdVQASuite(LMEvalSuite):
    """AdVQA: VQAv2's official VQA accuracy (percent), overall and per answer type, on AdVQA's files."""

    name = "advqa"

    def check_data(self) -> None:
        read_advqa(self.data_dir())  # every file, every image path

    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        root = self.data_dir()
        meta = {"advqa_path": str(root), "limit": limit}
        outputs, stats = self.run(backend, ["unigame_advqa"], meta, limit=limit, batch_size=batch_size)
        out = outputs["unigame_advqa"]
        return vqa_result(self.result(dict(out.metrics), [out], stats, data=str(root)))


class NaturalBenchSuite(LMEvalSuite):
    """NaturalBench: ``acc`` over (image, question) pairs; ``q_acc``, ``i_acc``, ``g_acc`` over groups of four.

    The predictions hold one row per pair (``level: pair``) and three per group (``level`` ``questions``,
    ``images``, ``group``, each scored as the group's share), so the group is the unit of the intervals and of
    the paired comparisons of ``q_acc``, ``i_acc`` and ``g_acc``. ``--limit`` is rounded up to whole groups.
    """

    name = "naturalbench"

    def check_data(self) -> None:
        check_naturalbench(self.data_dir())

    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        root, pairs = self.data_dir(), whole_groups(limit)
        meta = {"naturalbench_path": str(root), "limit": pairs}
        outputs, stats = self.run(backend, ["unigame_naturalbench"], meta, limit=pairs, batch_size=batch_size)
        out = outputs["unigame_naturalbench"]
        result = self.result(dict(out.metrics), [out], stats, score_metric="acc", data=str(root),
                             layout=layout_of(root))
        groups = group_rows(result.predictions)
        result.details["groups"] = len(groups) // 3
        result.predictions += groups
        result.per_question = {"acc": ScoredRows({"level": "pair"}), "q_acc": ScoredRows({"level": "questions"}),
                               "i_acc": ScoredRows({"level": "images"}), "g_acc": ScoredRows({"level": "group"})}
        return result
