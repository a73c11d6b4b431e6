"""The paired hierarchical bootstrap (seeds, then questions within seed) on known cases."""

from __future__ import annotations

import numpy as np
import pytest

from unigame_core.bootstrap import paired_difference, row_interval


def _row(seed_means: list[float], n: int = 200, rng_seed: int = 0) -> dict[int, dict[str, tuple[float, float]]]:
    """Binary scores per seed: seed s answers each question right with probability seed_means[s]."""
    rng = np.random.default_rng(rng_seed)
    return {s: {f"q{i}": (float(rng.random() < p), 1.0) for i in range(n)} for s, p in enumerate(seed_means)}


def test_identical_rows_differ_by_exactly_zero() -> None:
    row = _row([0.6, 0.7, 0.8])
    diff = paired_difference(row, row, n_boot=300)
    assert diff.point == diff.low == diff.high == 0.0  # paired: every replicate sees the same draws
    assert (diff.seeds, diff.units) == (3, 200)


def test_a_constant_shift_gives_that_shift() -> None:
    row = {s: {q: (v * 0.5, 1.0) for q, (v, _) in units.items()} for s, units in _row([0.5, 0.6]).items()}
    shifted = {s: {q: (v + 0.1, 1.0) for q, (v, _) in units.items()} for s, units in row.items()}
    diff = paired_difference(shifted, row, n_boot=300)
    assert diff.point == pytest.approx(0.1) and diff.low == pytest.approx(0.1) and diff.high == pytest.approx(0.1)


def test_the_interval_covers_the_mean_and_more_seeds_narrow_it() -> None:
    rng = np.random.default_rng(1)
    means = list(np.clip(0.7 + 0.08 * rng.standard_normal(16), 0, 1))  # seed-to-seed spread
    few, many = row_interval(_row(means[:2]), n_boot=1000), row_interval(_row(means), n_boot=1000)
    assert few.low <= few.point <= few.high and many.low <= many.point <= many.high
    assert many.high - many.low < few.high - few.low
    assert many.low < 0.7 < many.high


def test_seeded_determinism() -> None:
    a, b = _row([0.5, 0.7], rng_seed=2), _row([0.6, 0.6], rng_seed=3)
    first, again = paired_difference(a, b, n_boot=200, seed=5), paired_difference(a, b, n_boot=200, seed=5)
    other = paired_difference(a, b, n_boot=200, seed=6)
    assert first == again and (first.low, first.high) != (other.low, other.high)


def test_units_with_counts_are_ratios_and_pairing_keeps_only_shared_questions() -> None:
    # one unit = one image with 3 questions, 2 right: the seed's score is sum / count, not a mean of means
    row = {0: {"img0": (2.0, 3.0), "img1": (1.0, 1.0)}}
    assert row_interval(row, n_boot=50).point == pytest.approx(3.0 / 4.0)
    other = {0: {"img0": (0.0, 3.0), "extra": (1.0, 1.0)}}
    diff = paired_difference(row, other, n_boot=50)
    assert diff.units == 1 and diff.point == pytest.approx(2.0 / 3.0)


def test_rows_without_shared_seeds_are_refused() -> None:
    with pytest.raises(ValueError, match="share no seed"):
        paired_difference({0: {"q": (1.0, 1.0)}}, {1: {"q": (1.0, 1.0)}})
