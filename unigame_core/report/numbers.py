"""Numbers as a reader wants them on report.html: three significant digits, shares as percentages, intervals
as ``[0.056, 0.238]``. Never a raw float such as 0.6933124 or 0.05617977."""

from __future__ import annotations

import math
from collections.abc import Sequence

DIGITS = 3
MISSING = "\u2013"  # an en dash: not measured


def number(value: float | int | None, digits: int = DIGITS) -> str:
    """Integers as they are; other numbers to ``digits`` significant digits (whole numbers from 100 on, an
    exponent below 0.001)."""
    if value is None or isinstance(value, bool):
        return MISSING
    if isinstance(value, int):
        return str(value)
    v = float(value)
    if not math.isfinite(v):
        return MISSING
    if v == 0:
        return "0"
    if abs(v) >= 10 ** (digits - 1) or (v.is_integer() and abs(v) < 1e15):
        return f"{v:.0f}"
    if abs(v) < 1e-3:
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def signed(value: float | None, digits: int = DIGITS) -> str:
    """``number`` with its sign: +0.346, -0.01, +0."""
    text = number(value, digits)
    return text if text.startswith("-") or text == MISSING else "+" + text


def percent(share: float | None, digits: int = DIGITS) -> str:
    """A share in [0, 1] as a percentage: 0.8765 -> 87.7 %."""
    if share is None or not math.isfinite(float(share)):
        return MISSING
    return f"{number(float(share) * 100, digits)} %"


def interval(bounds: Sequence[float], digits: int = DIGITS) -> str:
    """``[low, high]`` with each bound rounded."""
    return "[" + ", ".join(number(b, digits) for b in bounds) + "]"
