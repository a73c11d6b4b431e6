"""Paired hierarchical bootstrap over seeds and questions (95 % intervals for a study's rows).

A study scores every row (a training recipe) with several seeds on the same questions. Its
uncertainty has two levels: which seeds were run, and which questions were asked. One bootstrap
replicate draws the seeds with replacement, then, within each drawn seed, the questions with
replacement; a row's statistic is the mean over the drawn seeds of each seed's score on its drawn
questions. Rows compared in a contrast use the SAME draws (the same seeds and the same questions),
so the difference's interval is paired.

A unit (a question) carries a ``(score sum, count)`` pair; a seed's score on drawn units is
``sum of sums / sum of counts``. Plain questions are ``(score, 1)``. Questions that share an image
(consistency) are one unit per image, so the resampling respects their correlation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: ``{seed: {unit id: (score sum, count)}}``: one row's scores.
RowScores = Mapping[int, Mapping[str, tuple[float, float]]]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95 % bootstrap interval, and how much data it rests on."""

    point: float
    low: float
    high: float
    seeds: int
    units: int

    def as_dict(self) -> dict[str, float | int]:
        return {"point": self.point, "low": self.low, "high": self.high, "seeds": self.seeds, "units": self.units}


def _common(rows: Sequence[RowScores]) -> tuple[list[int], list[str]]:
    """Seeds every row has, and units every row has for every one of those seeds (sorted)."""
    seeds = sorted(set.intersection(*(set(r) for r in rows)))
    if not seeds:
        raise ValueError("the rows share no seed")
    units = set.intersection(*(set(r[s]) for r in rows for s in seeds))
    if not units:
        raise ValueError("the rows share no question")
    return seeds, sorted(units)


def _arrays(row: RowScores, seeds: list[int], units: list[str]) -> tuple[np.ndarray, np.ndarray]:
    sums = np.array([[row[s][u][0] for u in units] for s in seeds], dtype=np.float64)
    counts = np.array([[row[s][u][1] for u in units] for s in seeds], dtype=np.float64)
    return sums, counts


def _replicates(arrays: list[tuple[np.ndarray, np.ndarray]], n_boot: int, seed: int,
                chunk: int = 100) -> np.ndarray:
    """``(n_boot, len(arrays))`` statistics, every array under the same seed and unit draws."""
    n_s, n_u = arrays[0][0].shape
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, len(arrays)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        seed_idx = rng.integers(n_s, size=(b, n_s))[..., None]  # (b, n_s, 1)
        unit_idx = rng.integers(n_u, size=(b, n_s, n_u))
        for k, (sums, counts) in enumerate(arrays):
            per_seed = sums[seed_idx, unit_idx].sum(-1) / counts[seed_idx, unit_idx].sum(-1)
            out[start:start + b, k] = per_seed.mean(-1)
    return out


def _point(sums: np.ndarray, counts: np.ndarray) -> float:
    return float((sums.sum(-1) / counts.sum(-1)).mean())


def _interval(point: float, draws: np.ndarray, seeds: int, units: int) -> Interval:
    low, high = np.percentile(draws, [2.5, 97.5])
    return Interval(point, float(low), float(high), seeds, units)


def row_interval(row: RowScores, *, n_boot: int = 2000, seed: int = 0) -> Interval:
    """One row's mean score (over seeds of each seed's mean) with its 95 % hierarchical interval."""
    seeds, units = _common([row])
    sums, counts = _arrays(row, seeds, units)
    draws = _replicates([(sums, counts)], n_boot, seed)[:, 0]
    return _interval(_point(sums, counts), draws, len(seeds), len(units))


def paired_difference(a: RowScores, b: RowScores, *, n_boot: int = 2000, seed: int = 0) -> Interval:
    """``a - b`` on the seeds and questions both rows have, paired: both see the same draws."""
    seeds, units = _common([a, b])
    arr_a, arr_b = _arrays(a, seeds, units), _arrays(b, seeds, units)
    draws = _replicates([arr_a, arr_b], n_boot, seed)
    return _interval(_point(*arr_a) - _point(*arr_b), draws[:, 0] - draws[:, 1], len(seeds), len(units))
