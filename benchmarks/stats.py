"""Summary statistics of timing samples: mean, percentiles (numpy's linear interpolation), spread."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

PERCENTILES = (50, 90, 99)


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between order statistics (numpy's default,
    Hyndman-Fan type 7): for 1..100, p50 = 50.5 and p99 = 99.01."""
    if len(samples) == 0:
        raise ValueError("percentile of an empty sample")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in 0..100, got {q}")
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def summarize(samples: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    """count, mean, p50, p90, p99, min, max and std (population) of samples, each multiplied by scale.

    Use scale=1000 to turn seconds into milliseconds, or 1000 / batch for milliseconds per image.
    """
    values = np.asarray(samples, dtype=np.float64) * scale
    if values.size == 0:
        raise ValueError("summary of an empty sample")
    summary = {"count": int(values.size), "mean": float(values.mean())}
    for q in PERCENTILES:
        summary[f"p{q}"] = float(np.percentile(values, q))
    summary.update(min=float(values.min()), max=float(values.max()), std=float(values.std()))
    return summary


def finite_or_none(value: float | None) -> float | None:
    """value, or None where it is missing or not finite (for tables and plots)."""
    if value is None or not math.isfinite(value):
        return None
    return value
