"""``attack-pgd`` and ``attack-decoder``: a VQA suite's questions, answered about images attacked against the
model under evaluation (its adapter included), scored by that suite's own lm-eval tasks.

The source suite (``source``: vqav2, pope, shapes, ...) is built through the suite registry and run as it
is, several times: once on its own images (``clean``), for ``attack-decoder`` once on the decoder's round
trip ``decode(encode(x))`` (``round_trip``, ``delta = 0``), then once per ``eps`` with
:func:`unigame_core.eval.lm_eval_bridge.pixel_hook` replacing each batch's pixels by APGD-CE adversarial
images (:mod:`.apgd`, :mod:`.threats`) made against the answer in the doc's ``target``. The same questions,
prompts and scorer (VQAv2 accuracy, POPE accuracy/F1, shapes exact match) serve every pass.

Robust score of a question at ``eps``: the lowest score over the points of the threat set the suite
evaluated (the clean image, the round trip, the adversarial images at every radius up to ``eps``): the
question counts as robust only if every one of them is answered right. So robust <= clean per question,
robust accuracy cannot rise with ``eps``, and at ``eps = 0`` robust equals clean (pixels) or the worse of
clean and round trip (decoder). Questions already answered wrong on a fixed point are not attacked (as in
AutoAttack): they are shown that point's image. Per-question metrics (accuracies) are recomputed from the
rows of each condition alike (unrounded: VQAv2's clean accuracy may differ from the vqav2 suite's in the
third decimal), so they carry n and 95 % intervals; other metrics (POPE F1, precision, recall, yes-ratio)
are lm-eval's aggregate over the run of that condition (the adversarial run for ``robust``).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from unigame_core.errors import ConfigError, DataError
from unigame_core.interfaces import Backend, ScoredRows, Suite, SuiteResult

from .apgd import apgd
from .threats import PixelBall, TokenBall, parse_eps

log = logging.getLogger(__name__)

CLEAN = "clean"


@dataclass
class PassStats:
    """What one adversarial pass did: questions attacked or skipped, losses, the largest perturbation."""

    attacked: int = 0
    skipped: int = 0
    batches: int = 0
    seconds: float = 0.0
    max_size: float = 0.0
    clean_loss: list[float] = field(default_factory=list)
    adversarial_loss: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        mean = (lambda v: sum(v) / len(v) if v else math.nan)
        return {"attacked": self.attacked, "already_wrong": self.skipped, "seconds": round(self.seconds, 3),
                "max_perturbation": self.max_size, "mean_ce_clean": mean(self.clean_loss),
                "mean_ce_adversarial": mean(self.adversarial_loss)}


def target_of(doc: dict[str, Any]) -> str:
    """The answer an attack pushes away from: the doc's ``target`` (else its first reference)."""
    target = doc.get("target") or (doc.get("references") or [None])[0]
    if target is None:
        raise ConfigError(f"The source suite's doc '{doc.get('id', '?')}' has no 'target' answer to attack.")
    return str(target)


class AttackHook:
    """The ``pixel_hook`` of one adversarial pass: attacks, in chunks, each question not already wrong."""

    def __init__(self, suite: AttackSuite, backend: Backend, eps: float, broken: dict[str, str],
                 advance: Callable[[int], None]) -> None:
        self.suite, self.backend, self.eps, self.broken, self.advance = suite, backend, eps, broken, advance
        self.stats = PassStats()

    def __call__(self, pixels: torch.Tensor, questions: list[str], docs: list[dict[str, Any]]) -> torch.Tensor:
        start, out = time.perf_counter(), pixels.detach().float().clone()
        self.stats.batches += 1
        ids = [str(doc.get("id", "")) for doc in docs]
        centre = [i for i, q in enumerate(ids) if self.broken.get(q, CLEAN) != CLEAN]
        if centre:  # already wrong on the round trip: shown the round trip
            out[centre] = self.suite.centre_image(self.backend, out[centre])
        todo = [i for i, q in enumerate(ids) if q not in self.broken]
        self.stats.skipped += len(ids) - len(todo)
        self.advance(len(ids) - len(todo))
        step = self.suite.options.attack_batch
        for k in range(0, len(todo), step):
            chunk = todo[k:k + step]
            out[chunk] = self.attack(out[chunk], [questions[i] for i in chunk], [target_of(docs[i]) for i in chunk])
            self.advance(len(chunk))
        self.stats.seconds += time.perf_counter() - start
        return out

    def attack(self, pixels: torch.Tensor, questions: list[str], answers: list[str]) -> torch.Tensor:
        o, und = self.suite.options, self.backend.understander
        ball = self.suite.ball(self.backend, pixels, self.eps)
        generator = torch.Generator().manual_seed(o.seed + self.stats.attacked)
        found = apgd(lambda d: und.answer_loss(und.embed_images(ball.image(d)), questions, answers), ball,
                     steps=o.steps, restarts=o.restarts, generator=generator)
        with torch.no_grad():
            adversarial = ball.image(found.delta).detach()
            self.stats.max_size = max(self.stats.max_size, float(ball.size(found.delta).max()))
        self.stats.attacked += len(questions)
        self.stats.clean_loss += found.clean_loss.tolist()
        self.stats.adversarial_loss += found.loss.tolist()
        return adversarial


class AttackSuite(Suite):
    """Clean and robust scores of a source suite under one threat model (subclasses name the ball)."""

    name: ClassVar[str] = ""
    ball: ClassVar[Any] = PixelBall
    centre: ClassVar[str | None] = None  # the name of the threat set's centre when it is not the clean image
    threat: ClassVar[dict[str, str]] = {}

    def __init__(self, options: Any, data_root: Path | None = None) -> None:
        self.options, self.data_root = options, Path(data_root) if data_root else None
        self._source: Suite | None = None

    def source(self) -> Suite:
        """The source suite, built through the registry with ``path`` and ``source_options``."""
        if self._source is None:
            from unigame_core.eval.runner import build_suite

            o = self.options
            if not o.source or ":" in o.source:
                raise ConfigError(f"Suite '{self.name}' needs a source suite such as vqav2, pope or shapes.",
                                  f"Pass --suite {self.name}:vqav2 or -O {self.name}.source=vqav2.")
            run = build_suite(o.source, self.data_root, dict(o.source_options), o.path)
            if isinstance(run.suite, AttackSuite):
                raise ConfigError(f"Suite '{self.name}' cannot attack the attack suite '{o.source}'.")
            self._source = run.suite
        return self._source

    def check_data(self) -> None:
        o = self.options
        if o.steps < 0 or o.restarts < 1 or o.attack_batch < 1:
            raise ConfigError(f"Suite '{self.name}' needs steps >= 0, restarts >= 1 and attack_batch >= 1.")
        parse_eps(o.eps, self.name)
        self.source().check_data()

    def evaluate(self, backend: Backend, *, limit: int | None, batch_size: int) -> SuiteResult:
        from unigame_core.eval.lm_eval_bridge import pixel_hook

        source, radii = self.source(), parse_eps(self.options.eps, self.name)
        run = lambda: source.evaluate(backend, limit=limit, batch_size=batch_size)  # noqa: E731
        passes: list[tuple[str, SuiteResult]] = [(CLEAN, run())]
        if self.centre:
            with pixel_hook(lambda pixels, questions, docs: self.centre_image(backend, pixels)):
                passes.append((self.centre, run()))
        broken = {} if self.options.attack_all else _broken(passes)
        robust: dict[str, list[dict[str, Any]]] = {}
        attacks: dict[str, Any] = {}
        for label, eps in radii:
            with _progress(f"{self.name}:{self.options.source} eps {label}", passes[0][1].n) as advance:
                hook = AttackHook(self, backend, eps, broken, advance)
                with pixel_hook(hook):
                    passes.append((f"adversarial[{label}]", run()))
            if passes[0][1].n and not hook.stats.batches:
                raise ConfigError(f"Suite '{self.options.source}' does not answer through unigame's lm-eval model, "
                                  f"so '{self.name}' cannot attack it.")
            robust[label] = _worst_rows(passes, f"robust[{label}]")
            attacks[label] = {"eps": eps, **hook.stats.summary()}
            a = attacks[label]
            log.info("%s:%s eps %s: attacked %d (%d already wrong), CE %.3f -> %.3f, max perturbation %.4g, %.1f s",
                     self.name, self.options.source, label, a["attacked"], a["already_wrong"], a["mean_ce_clean"],
                     a["mean_ce_adversarial"], a["max_perturbation"], a["seconds"])
        return self._result(passes, robust, attacks)

    def centre_image(self, backend: Backend, pixels: torch.Tensor) -> torch.Tensor:
        """The threat set's centre (``delta = 0``): the round trip ``decode(encode(x))`` for the decoder."""
        with torch.no_grad():
            ball = self.ball(backend, pixels, 0.0)
            return ball.image(ball.zeros())

    def _result(self, passes: Sequence[tuple[str, SuiteResult]], robust: dict[str, list[dict[str, Any]]],
                attacks: dict[str, Any]) -> SuiteResult:
        clean = passes[0][1]
        fixed = [(name, r) for name, r in passes if not name.startswith("adversarial[")]
        adversarial = dict(passes)
        metrics: dict[str, float] = {}
        per_question: dict[str, ScoredRows] = {}
        for metric in clean.metrics:
            if metric == "unreadable_images":
                continue
            spec = clean.per_question.get(metric)
            conditions = [(name, result.metrics, result.predictions) for name, result in fixed]
            conditions += [(f"robust[{label}]", adversarial[f"adversarial[{label}]"].metrics, rows)
                           for label, rows in robust.items()]
            for condition, source_metrics, rows in conditions:
                key = f"{condition}/{metric}"
                if spec is None:  # not a per-question mean: the source's own aggregate of that run
                    metrics[key] = source_metrics.get(metric, math.nan)
                    continue
                metrics[key] = _mean(rows, spec)
                per_question[key] = ScoredRows({**spec.where, "condition": condition}, spec.scale)
        metrics["unreadable_images"] = clean.metrics.get("unreadable_images", 0.0)
        rows = [{**row, "condition": name} for name, result in fixed for row in result.predictions]
        rows += [row for label in robust for row in robust[label]]
        details = {"source": self.options.source, "data": clean.details.get("data"),
                   "threat_model": self.threat, "steps": self.options.steps, "restarts": self.options.restarts,
                   "attack": attacks, "lm_eval_tasks": clean.details.get("lm_eval_tasks", {}),
                   "samples_per_s": clean.details.get("samples_per_s")}
        return SuiteResult(metrics=metrics, n=clean.n, predictions=rows, details=details, per_question=per_question)


class PixelAttackSuite(AttackSuite):
    name = "attack-pgd"
    ball = PixelBall
    threat = {"space": "pixels", "norm": "L_inf", "bound": "|x_adv - x| <= eps, x_adv in [0, 1]",
              "algorithm": "APGD-CE"}


class DecoderAttackSuite(AttackSuite):
    name = "attack-decoder"
    ball = TokenBall
    centre = "round_trip"
    threat = {"space": "shared tokens, decoded by the model's own decoder", "norm": "L2 per token, relative",
              "bound": "||delta_i|| <= eps * ||z_i||", "algorithm": "APGD-CE"}


def _mean(rows: Sequence[dict[str, Any]], spec: ScoredRows) -> float:
    """``spec.scale`` times the mean score of the rows ``spec`` selects (unrounded, for every condition alike)."""
    scores = [float(r["score"]) for r in rows if all(str(r.get(k)) == str(v) for k, v in spec.where.items())]
    return spec.scale * sum(scores) / len(scores) if scores else math.nan


def _broken(passes: Sequence[tuple[str, SuiteResult]]) -> dict[str, str]:
    """``{question id: the first fixed point answered with score 0}`` (ids that repeat are left out)."""
    counts = Counter(str(row["id"]) for row in passes[0][1].predictions)
    unique = {q for q, n in counts.items() if n == 1}
    broken: dict[str, str] = {}
    for name, result in passes:
        for row in result.predictions:
            if str(row["id"]) in unique and float(row["score"]) <= 0.0:
                broken.setdefault(str(row["id"]), name)
    return broken


def _worst_rows(passes: Sequence[tuple[str, SuiteResult]], condition: str) -> list[dict[str, Any]]:
    """Per question, the lowest-scoring row over ``passes`` (ties: the later pass), marked ``condition``."""
    rows = [result.predictions for _, result in passes]
    if any(len(r) != len(rows[0]) for r in rows):
        raise DataError("The source suite answered a different number of questions in two passes.")
    out = []
    for k, candidates in enumerate(zip(*rows)):
        if len({str(c["id"]) for c in candidates}) != 1:
            raise DataError(f"The source suite changed the order of its questions between passes (row {k}).")
        worst = 0
        for j, row in enumerate(candidates):
            if float(row["score"]) <= float(candidates[worst]["score"]):
                worst = j
        out.append({**candidates[worst], "condition": condition, "worst_of": passes[worst][0],
                    "adversarial_prediction": candidates[-1].get("prediction", "")})
    return out


class _progress:
    """A rich bar over a pass's questions on a terminal (nothing when piped: the pass logs its summary)."""

    def __init__(self, description: str, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.progress import TimeRemainingColumn

        from unigame_core.console import console

        self.bar = Progress(TextColumn(f"[bold]{description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), TimeRemainingColumn(), console=console,
                            disable=not console.is_terminal, transient=True)
        self.task = self.bar.add_task(description, total=total)

    def __enter__(self) -> Any:
        self.bar.__enter__()
        return lambda n: self.bar.advance(self.task, n)

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)
