"""Physically meaningful ranges for the numbers gpuplan reads: spec fields, command-line flags, file columns.

A number outside its range is an input error where it is read (with its YAML path, flag or file line),
never an overflow, a solve of a nonsense problem, or a plan "at rate 0". The caps are generous: each is
far beyond any real value, and documented here once.
"""

from __future__ import annotations

import math

MAX_TOKENS = 10_000_000
"""Longest prompt, output or context window, in tokens (the longest context window today is 10M)."""
MAX_TP = 1024
"""Largest tensor-parallel degree (GPUs of one replica)."""
MAX_COUNT = 1_000_000
"""Largest count of replicas, instances or GPUs (min_replicas, availability caps, concurrency)."""
MAX_PRICE_USD_PER_HOUR = 1e6
"""Highest price or budget, $/h."""
MAX_RATE_RPS = 1e12
"""Highest request rate, req/s (rates that need more than a million GPUs are refused later, by name)."""
MAX_LATENCY_MS = 1e10
"""Longest latency target, ms (four months: offline work)."""
MAX_SECONDS = 1e7
"""Longest time limit, duration or warm-up, s (four months)."""
MAX_TIMESTAMP_S = 1e11
"""Largest timestamp magnitude, s from any epoch (year 5138); milliseconds may be 1000 times larger."""
MAX_MEMORY_GB = 1e7
"""Most host memory or disk, GB (ten petabytes)."""
MAX_JOBS = 256
"""Most worker processes of one command (`sweep --jobs`)."""
MAX_SIGMA = 10.0
"""Largest lognormal shape (std of the log): e^(3 x 10) is already 10^13 times the median."""
MAX_SLICE_FACTOR = 10_000
"""Most pieces per bucket in whole-slice mode."""


def in_range(
    value: float,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
) -> bool:
    """`value` is finite and within the bounds given (NaN is never in range)."""
    if not math.isfinite(value):
        return False
    if gt is not None and not value > gt:
        return False
    if ge is not None and not value >= ge:
        return False
    return not (le is not None and not value <= le)


def describe(*, gt: float | None = None, ge: float | None = None, le: float | None = None) -> str:
    """`a finite number > 0 and <= 1e+06`: the range in words for messages."""
    parts = []
    if gt is not None:
        parts.append(f"> {gt:g}")
    if ge is not None:
        parts.append(f">= {ge:g}")
    if le is not None:
        parts.append(f"<= {le:g}")
    return "a finite number" + (" " + " and ".join(parts) if parts else "")
