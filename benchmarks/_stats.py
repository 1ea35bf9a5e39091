"""Small statistics helpers shared by the benchmarks."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100, nearest rank) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def lower_latency(a: float, b: float) -> bool:
    """Whether latency ``a`` is kept over ``b`` of another round: the lower one, or the one
    measured (not NaN); ``a`` on a tie."""
    return math.isnan(b) or (not math.isnan(a) and a <= b)


def fmt_rate(value: float) -> str:
    """Format a rate like ``12,345``."""
    return "-" if math.isnan(value) else f"{value:,.0f}"


def fmt_ms(seconds: float) -> str:
    """Format seconds as milliseconds with one decimal."""
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def ratio(a: float, b: float) -> str:
    """``a / b`` formatted as ``0.42x`` (``-`` when undefined)."""
    if math.isnan(a) or math.isnan(b) or b == 0:
        return "-"
    return f"{a / b:.2f}x"
