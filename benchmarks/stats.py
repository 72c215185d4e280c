"""Small statistics for benchmark samples: percentiles and a summary in milliseconds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def pct(samples: Sequence[float], p: float) -> float:
    """The `p`-th percentile (nearest rank) of `samples`."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float, digits: int = 3) -> float:
    return round(seconds * 1e3, digits)


def summary_ms(samples: Sequence[float]) -> dict[str, Any]:
    """n, p50, p90, p99 and max of `samples` (seconds), in milliseconds."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "p50_ms": ms(statistics.median(samples)),
        "p90_ms": ms(pct(samples, 90)),
        "p99_ms": ms(pct(samples, 99)),
        "max_ms": ms(max(samples)),
        "min_ms": ms(min(samples)),
    }


def spread(samples: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """Median, min and max of repeated measurements, and how many."""
    if not samples:
        return {"n": 0}
    return {
        "median": round(statistics.median(samples), digits),
        "min": round(min(samples), digits),
        "max": round(max(samples), digits),
        "n": len(samples),
    }
