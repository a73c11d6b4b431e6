"""95 % intervals and the before/after verdict, on hand-made inputs with hand-computed bounds."""

from __future__ import annotations

import math

import pytest

from unigame_core import stats


def test_wilson_interval_of_a_proportion() -> None:
    assert stats.wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert stats.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)  # not the Wald interval's [0, 0]
    assert all(math.isnan(x) for x in stats.wilson(0, 0))


def test_mean_interval_is_wilson_for_right_or_wrong_and_a_standard_error_for_graded_scores() -> None:
    e = stats.mean_interval([1.0] * 8 + [0.0] * 2)
    assert (e.value, e.n) == (0.8, 10) and (e.low, e.high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    graded = stats.mean_interval([0.0, 1 / 3, 2 / 3, 1.0], scale=100.0)  # VQA-style scores, percent
    assert graded.value == pytest.approx(50.0) and (graded.low, graded.high) == pytest.approx((7.83, 92.17), abs=0.01)
    assert math.isnan(stats.mean_interval([]).value)


def test_paired_difference_and_verdicts() -> None:
    before = {str(i): 0.0 for i in range(10)}
    after = {str(i): (1.0 if i < 6 else 0.0) for i in range(10)}
    d = stats.paired_difference(before, after)
    assert d.paired and d.n == 10 and d.value == pytest.approx(0.6)
    assert (d.low, d.high) == pytest.approx((0.2799, 0.9201), abs=1e-4) and d.verdict == stats.BETTER
    assert stats.paired_difference(after, before).verdict == stats.WORSE

    mixed_before = {str(i): float(i % 2) for i in range(20)}  # 10 fixed, 10 broken: no net change
    mixed_after = {str(i): float(1 - i % 2) for i in range(20)}
    same = stats.paired_difference(mixed_before, mixed_after)
    assert same.value == 0.0 and same.low < 0 < same.high and same.verdict == stats.SAME
    assert stats.paired_difference({"a": 0.0}, {"a": 1.0}).verdict == stats.TOO_FEW


def test_unpaired_difference_adds_the_two_standard_errors() -> None:
    d = stats.unpaired_difference([1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0])
    assert not d.paired and d.value == pytest.approx(0.25)
    assert (d.low, d.high) == pytest.approx((-0.4985, 0.9985), abs=1e-4) and d.verdict == stats.SAME
