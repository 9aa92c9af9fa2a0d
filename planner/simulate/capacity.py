"""Capacity of one replica for percentile SLO targets: the largest arrival rate at which a replica keeps
the named statistic (p90 TPOT, p99 TTFT, ...) within its target. Two ways, measured against each other by
`bench/simulate_accuracy.py`:

- `simulated_capacity`: the ground truth of this project's model. Bisection on the rate, each point a
  replay of the same Poisson arrivals (common random numbers, so the statistic is smooth in the rate).
  A few hundred milliseconds per (candidate, bucket): too slow for every cell of a plan.
- `slo_capacity_many`: the estimator's mean-value serving model at targets divided by a tail factor per
  (metric, statistic), TAIL_FACTORS ("p99 TTFT <= 2 s" read as "mean TTFT <= 2 s / f"), the factors fitted
  to the simulated capacities. Measured: the factor that would make a cell exact spreads over 2-8x for
  TTFT and 1-2x for TPOT, so a cell's capacity is off by 10-50 % (median) with any one factor.

Neither is what the planner uses: it plans with the targets as bounds on the mean, simulates the chosen
fleet and tightens the candidates that miss (planner/simulate/slo_check.py), which the benchmark and
tests showed to give cheaper plans in fewer rounds than starting from the tail factors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from planner.perf import Deployment, capacity_rps_many
from planner.simulate.replay import replay
from planner.simulate.timing import IterationTimes
from planner.spec import Slo, statistic_quantile

# Tail factor f: statistic / mean at the rate where the statistic reaches its target, per metric and
# statistic. Fitted by `python bench/simulate_accuracy.py --fit` (2026-12-01, 48 cells per statistic: 4 replicas
# x 4 request classes x 3 targets): the median f* over the cells, so the median cell's capacity error is ~0.
# f > 1 for the p50 TTFT because the simulated TTFT also waits for the iteration in progress and rides a whole
# mixed iteration, which the mean-value model counts less of. p99.9 was not fitted (4,000 requests per point
# give 4 samples beyond it): its factors extrapolate the p95 -> p99 step.
TAIL_FACTORS: dict[tuple[str, str], float] = {
    ("ttft", "mean"): 1.0,
    ("ttft", "p50"): 2.12,
    ("ttft", "p90"): 3.20,
    ("ttft", "p95"): 3.45,
    ("ttft", "p99"): 3.76,
    ("ttft", "p99.9"): 4.1,
    ("tpot", "mean"): 1.0,
    ("tpot", "p50"): 1.0,
    ("tpot", "p90"): 1.14,
    ("tpot", "p95"): 1.20,
    ("tpot", "p99"): 1.28,
    ("tpot", "p99.9"): 1.36,
}


def mean_bounds_ms(slo: Slo, relax: float = 0.0) -> tuple[float, float]:
    """(TTFT, TPOT) bounds on the mean that the serving model plans with for these targets: target / f for a
    percentile target with tail factor f. `relax` in [0, 1] (the fleet check's) eases them towards the
    target values: target / f ** (1 - relax)."""
    keep = 1.0 - relax
    return (
        slo.ttft_ms / TAIL_FACTORS[("ttft", slo.ttft_statistic)] ** keep,
        slo.tpot_ms / TAIL_FACTORS[("tpot", slo.tpot_statistic)] ** keep,
    )


def slo_capacity_many(dep: Deployment, lengths: Sequence[tuple[int, int]], slo: Slo, relax: float = 0.0) -> list[float]:
    """Largest rate per (input, output) class at which a replica meets `slo` by the statistics it names
    (tail-factor approximation; module doc). Identical to the serving model's capacity for mean targets."""
    ttft_ms, tpot_ms = mean_bounds_ms(slo, relax)
    return capacity_rps_many(dep, lengths, ttft_ms, tpot_ms)


def _statistic(values: np.ndarray, statistic: str) -> float:
    q = statistic_quantile(statistic)
    if values.size == 0:
        return 0.0
    if q is None:
        return float(values.mean())
    return float(np.percentile(values, 100.0 * q, method="inverted_cdf"))


def meets(ttft_s: np.ndarray, tpot_s: np.ndarray, slo: Slo) -> bool:
    """Whether simulated latencies (seconds) meet both targets by their statistics."""
    tp = tpot_s[~np.isnan(tpot_s)]
    return (
        _statistic(ttft_s, slo.ttft_statistic) <= slo.ttft_ms * 1e-3
        and _statistic(tp, slo.tpot_statistic) <= slo.tpot_ms * 1e-3
    )


def simulated_capacity(
    dep: Deployment,
    input_len: int,
    output_len: int,
    slo: Slo,
    *,
    requests: int = 4000,
    seed: int = 0,
    upper_rps: float | None = None,
    rel_tol: float = 0.02,
) -> float:
    """Largest Poisson rate at which one replica meets `slo` in simulation (bisection on a log scale).

    The arrivals are one unit-rate sequence scaled by 1/rate; the first tenth is a warm-up left out of the
    statistics. 0.0 when even a lone request misses.
    """
    base = np.cumsum(np.random.default_rng(seed).exponential(1.0, requests))
    ins = np.full(requests, input_len, dtype=np.int64)
    outs = np.full(requests, output_len, dtype=np.int64)
    times = IterationTimes(dep, input_len + output_len)
    times.prime(ins[:1])
    skip = requests // 10

    def ok(rate: float) -> bool:
        r = replay(dep, base / rate, ins, outs, times=times)
        if r.rejected.any():
            return False
        return meets(r.ttft_s[skip:], r.tpot_s[skip:], slo)

    hi = upper_rps if upper_rps is not None else capacity_rps_many(dep, [(input_len, output_len)], 1e12, 1e12)[0]
    if hi <= 0.0:
        return 0.0
    hi *= 1.5  # the mean-value model's saturation point is not a bound on the simulation
    lo = hi * 1e-4
    if not ok(lo):
        return 0.0
    if ok(hi):
        return hi
    while hi / lo > 1.0 + rel_tol:
        mid = math.sqrt(lo * hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo
