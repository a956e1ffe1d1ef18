"""Summary statistics of the per-task measurements (pure functions, unit-tested)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linearly interpolated between closest ranks (numpy's way)."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median, p95, min, max and count of values."""
    return {
        "median": median(values),
        "p95": percentile(values, 95),
        "min": min(values) if values else math.nan,
        "max": max(values) if values else math.nan,
        "count": float(len(values)),
    }


def ratio(ours: float, baseline: float) -> float:
    """ours / baseline; nan when the baseline is zero or either is missing."""
    if baseline == 0 or math.isnan(ours) or math.isnan(baseline):
        return math.nan
    return ours / baseline
