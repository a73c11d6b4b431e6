"""What a training run needs before its model loads, checked at once: every problem in one message.

Loading a model takes minutes, so ``unigame train`` first builds the data and the gate (both small) and asks
the backend whether its weights can be had (``Backend.check_weights``: a folder that is there, a hub id that
is cached or reachable). Each check runs even when an earlier one failed, so a user learns of a missing data
file, an uncached gate and an unavailable checkpoint in one run, not three. One problem is raised as it is;
several become one ``PreflightError`` listing each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from omegaconf import DictConfig

from ..errors import DataError, UnigameError
from ..interfaces import Validator
from . import build

T = TypeVar("T")


class PreflightError(UnigameError):
    """Several problems keep a run from starting; the message lists each."""

    def __init__(self, problems: list[UnigameError]) -> None:
        lines = "\n".join(f"  {i}. {problem}" for i, problem in enumerate(problems, 1))
        super().__init__(f"This run cannot start ({len(problems)} problems):\n{lines}")
        self.problems = problems
        self.exit_code = max(problem.exit_code for problem in problems)


@dataclass
class Ready:
    """What the checks built on the way: the training data and the gate."""

    dataset: Any
    gate: Validator


def check(cfg: DictConfig, where: build.Placement, world: int = 1) -> Ready:
    """The data, the batch split over ``world`` ranks, the gate and the backend's weights; every problem at once."""
    problems: list[UnigameError] = []
    t = cfg.train
    dataset = _attempt(problems, lambda: build.build_dataset(cfg.data.spec, cfg.data.image_errors, t.seed))
    if t.batch_size % world:
        problems.append(DataError(f"train.batch_size {t.batch_size} is not divisible by the {world} ranks."))
    gate = _attempt(problems, lambda: build.build_gate(cfg, where.device))
    _attempt(problems, lambda: build.check_backend_weights(cfg))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise PreflightError(problems)
    return Ready(dataset, gate)


def _attempt(problems: list[UnigameError], make: Callable[[], T]) -> T | None:
    try:
        return make()
    except UnigameError as exc:
        problems.append(exc)
        return None
