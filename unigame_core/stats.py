"""95 % intervals for benchmark scores, and a verdict on a before/after difference.

Why these formulas: a benchmark score is a mean of per-question scores, so its uncertainty comes from
which questions were drawn. For 0/1 scores the Wilson interval stays sensible near 0 and 1 and for
small n (the Wald interval collapses to a point there); for graded scores (VQA accuracy: 0, 1/3, ...)
the mean's standard error (central limit theorem) is used. A before/after comparison on the SAME
questions is paired: the per-question differences ``after_i - before_i`` carry far less noise than two
independent scores, so their mean +- 1.96 standard errors is the interval, and the verdict says
"better" or "worse" only when that interval excludes 0. Without shared questions the two standard
errors add (unpaired), which is wider. Everything is closed form: the same inputs give the same bounds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95 % normal quantile

BETTER, WORSE, SAME = "better", "worse", "no detectable difference at 95 %"
TOO_FEW = "too few questions to judge"


@dataclass(frozen=True)
class Estimate:
    """A mean score with its 95 % interval, over ``n`` questions (``nan`` bounds when ``n`` is 0)."""

    value: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Difference:
    """``after - before`` with its 95 % interval; ``paired`` when computed per shared question."""

    value: float
    low: float
    high: float
    n: int  # shared questions (paired) or the smaller of the two samples (unpaired)
    paired: bool

    @property
    def verdict(self) -> str:
        """better / worse when the interval excludes 0, otherwise no detectable difference."""
        if math.isnan(self.low) or math.isnan(self.high):
            return TOO_FEW
        if self.low > 0:
            return BETTER
        if self.high < 0:
            return WORSE
        return SAME


def _is_binary(scores: Sequence[float]) -> bool:
    return all(s in (0.0, 1.0) for s in scores)


def _variance(scores: Sequence[float]) -> float:
    """Sample variance (n - 1 in the denominator); 0 for fewer than two values."""
    n = len(scores)
    if n < 2:
        return 0.0
    mean = sum(scores) / n
    return sum((s - mean) ** 2 for s in scores) / (n - 1)


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n``."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(scores: Sequence[float], scale: float = 1.0) -> Estimate:
    """The mean of ``scores`` (each in [0, 1]) times ``scale``, with its 95 % interval (see the module doc)."""
    n = len(scores)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = sum(scores) / n
    if _is_binary(scores):
        low, high = wilson(int(round(sum(scores))), n)
    else:
        half = Z95 * math.sqrt(_variance(scores) / n)
        low, high = max(0.0, mean - half), min(1.0, mean + half)
    return Estimate(mean * scale, low * scale, high * scale, n)


def paired_difference(before: Mapping[str, float], after: Mapping[str, float], scale: float = 1.0) -> Difference:
    """Mean of ``after[q] - before[q]`` over the questions ``q`` both have, with its 95 % interval."""
    shared = [q for q in before if q in after]
    diffs = [after[q] - before[q] for q in shared]
    n = len(diffs)
    if n < 2:
        value = diffs[0] * scale if diffs else math.nan
        return Difference(value, math.nan, math.nan, n, True)
    mean = sum(diffs) / n
    half = Z95 * math.sqrt(_variance(diffs) / n)
    return Difference(mean * scale, (mean - half) * scale, (mean + half) * scale, n, True)


def unpaired_difference(before: Sequence[float], after: Sequence[float], scale: float = 1.0) -> Difference:
    """``mean(after) - mean(before)`` for two independent sets of questions (standard errors add)."""
    n = min(len(before), len(after))
    if n < 2:
        return Difference(math.nan, math.nan, math.nan, n, False)
    mean = sum(after) / len(after) - sum(before) / len(before)
    half = Z95 * math.sqrt(_variance(before) / len(before) + _variance(after) / len(after))
    return Difference(mean * scale, (mean - half) * scale, (mean + half) * scale, n, False)
