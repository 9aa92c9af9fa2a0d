"""Summary statistics of request lengths (mean, p50, p90, p99 tokens per axis), for reports.

Traces use numpy's linear-interpolated percentiles of the rows kept; histograms and distributions report
the lower quantile (the smallest length whose cumulative share reaches q); the mean of a distribution is
taken on a ``STATS_GRID``-point quantile grid. Split from planner/workload.py, which builds the slices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.distributions import Discretised

STATS_GRID = 4096


@dataclass(frozen=True)
class LengthStats:
    """Token-length statistics of one axis (input or output)."""

    mean_tokens: float
    p50_tokens: float
    p90_tokens: float
    p99_tokens: float


def weighted_quantile(values: Sequence[int], weights: Sequence[float], q: float) -> float:
    """Smallest value whose cumulative weight reaches q (weights sum to 1)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    cum = 0.0
    for i in order:
        cum += weights[i]
        if cum >= q - 1e-12:
            return float(values[i])
    return float(values[order[-1]])


def histogram_stats(values: Sequence[int], weights: Sequence[float]) -> LengthStats:
    total = sum(weights)
    w = [x / total for x in weights]
    return LengthStats(
        mean_tokens=sum(v * x for v, x in zip(values, w, strict=True)),
        p50_tokens=weighted_quantile(values, w, 0.5),
        p90_tokens=weighted_quantile(values, w, 0.9),
        p99_tokens=weighted_quantile(values, w, 0.99),
    )


def trace_stats(values: npt.NDArray[np.int64]) -> LengthStats:
    p50, p90, p99 = np.percentile(values, [50, 90, 99]).tolist()
    return LengthStats(mean_tokens=float(values.mean()), p50_tokens=p50, p90_tokens=p90, p99_tokens=p99)


def distribution_stats(dist: Discretised) -> LengthStats:
    grid = [dist.length_at((i + 0.5) / STATS_GRID) for i in range(STATS_GRID)]
    return LengthStats(
        mean_tokens=sum(grid) / STATS_GRID,
        p50_tokens=float(dist.length_at(0.5)),
        p90_tokens=float(dist.length_at(0.9)),
        p99_tokens=float(dist.length_at(0.99)),
    )
