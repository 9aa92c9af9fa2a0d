"""Serving model of a replica given by its per-iteration times: for pipeline-parallel replicas and for the
decode pool of a disaggregated pair, whose iterations are not one roofline pass of one GPU group.

The model is the one of `serving.py` (continuous batching, Little's law, prefill interference, an M/D/1
wait behind other prompts), written for any decode-iteration time t(N) that grows with the number N of
requests in flight. For a request class (O output tokens) at arrival rate lambda:

    r     = lambda p                                   share of iteration time prefills take
    TTFT  = t_alone + h min(N, 1) t(N) + r p / (2 (1 - r))
    TPOT  = t(max(N, 1)) / (1 - r)
    N     = lambda (TTFT + (O - 1) TPOT)               Little's law

p is the time one prompt takes from the iterations, t_alone the TTFT of a lone request, h the share of an
iteration a new prompt waits (1/2; 0 without decode steps). An engine that prefills in passes of its own
gathers the prompts that arrived since its last scheduling point into one pass (`gathered_prompts`); k
of them share the pass's weight read and fixed costs, so p = p(k), and a prompt also waits for the k - 1
others of its pass and, M/D/1, for the passes ahead of it (service time k p):

    TTFT  = t_alone + h min(N, 1) t(N) + (k - 1) p + r k p / (2 (1 - r))

(k = 1 for engines that mix prompts into decode iterations). Fixing N instead of lambda, Little's law is
a quadratic in lambda:

    a lambda^2 + b lambda - N = 0,   a = k p^2/2 - A p,  b = A + B + N p,
    A = t_alone + h min(N, 1) t(N) + (k - 1) p,  B = (O - 1) t(max(N, 1))

At a given N the prompts arriving per iteration are about the requests completing per iteration, N / O,
whatever k is, so k follows from N by a few substitutions k <- gathered(lambda(N; k)) (GATHER_SUBSTITUTIONS).

whose root lambda(N) = 2N / (b + sqrt(b^2 + 4 a N)) is the rate at which N requests are in flight (none
when b^2 + 4aN < 0: that N is never reached). lambda(N) grows with N (throughput grows with the batch), and
TTFT and TPOT grow along it, so the largest rate meeting both targets is lambda(N_c) for the largest
N_c <= N_lim (what the KV cache admits) where they hold: a bisection on N, vectorised over classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

StepFn = Callable[[np.ndarray], np.ndarray]
"""t(N): seconds of one decode iteration per class at N in flight (arrays of one value per class)."""

_BISECTIONS = 40  # on log N over at most e^30: steps of 3e-11 relative, far below any figure reported
N_MIN = 1e-9  # "no load": the lone request
GATHER_SUBSTITUTIONS = 3  # substitutions k <- gathered(lambda(N; k)) at a given N (k moves little with it)
ARRIVAL_ROUNDS = 6  # substitutions for the arrivals per iteration m = x / (2 - e^-m) (a contraction)


def gathered_prompts(per_iteration: np.ndarray, most: np.ndarray) -> np.ndarray:
    """Prompts one prefill pass holds when `per_iteration` = lambda x (time between scheduling points)
    arrive per decode iteration, Poisson: per iteration the engine runs a pass with probability
    q = 1 - e^-m, so with m = per_iteration / (1 + q) arrivals between scheduling points a pass holds
    m / (1 - e^-m) (one at low rates, m at high ones), at most `most`; `most` where no steady state."""
    x = np.asarray(per_iteration, dtype=float)
    m = 0.5 * x
    for _ in range(ARRIVAL_ROUNDS):
        m = x / (2.0 - np.exp(-np.minimum(m, 700.0)))
    g = np.where(m > 1e-9, m / -np.expm1(-np.clip(m, 1e-9, 700.0)), 1.0)
    return np.where(np.isfinite(m), np.minimum(g, most), most)


@dataclass(frozen=True)
class IterationModel:
    """One replica serving a set of request classes (arrays, one value per class)."""

    step_s: StepFn
    prefill_s: np.ndarray  # p: time one prompt takes from the decode iterations
    alone_s: np.ndarray  # t_alone: TTFT of a lone request
    output_len: np.ndarray  # O
    limit: np.ndarray  # most requests in flight (KV cache, scheduler); 0 = the class is never admitted
    wait_share: np.ndarray  # h: share of an iteration a new prompt waits
    # engines that prefill in passes of their own: p(k), a prompt's time when k prompts share a pass (None:
    # prompts ride the decode iterations, p = prefill_s, k = 1); the most prompts a pass holds (the token
    # budget's worth; None: no bound); and the scheduling points per iteration (a pipeline's micro-batches)
    pass_prefill_s: Callable[[np.ndarray], np.ndarray] | None = None
    pass_max: np.ndarray | None = None
    points_per_iteration: float = 1.0


def _times(m: IterationModel, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(t(N), t(max(N, 1))): the iteration with n in flight, and a full one (what TPOT waits for)."""
    t = m.step_s(np.maximum(n, N_MIN))
    t1 = np.where(n >= 1.0, t, m.step_s(np.maximum(n, 1.0)))
    return t, t1


def _rate_pk(
    m: IterationModel, n: np.ndarray, t: np.ndarray, t1: np.ndarray, p: np.ndarray, k: np.ndarray
) -> np.ndarray:
    a = m.alone_s + m.wait_share * np.minimum(n, 1.0) * t + (k - 1.0) * p
    b = np.maximum(m.output_len - 1.0, 0.0) * t1
    alpha = k * p * p / 2.0 - a * p
    beta = a + b + n * p
    disc = beta * beta + 4.0 * alpha * n
    root = np.sqrt(np.where(disc >= 0.0, disc, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(disc >= 0.0, 2.0 * n / (beta + root), np.nan)
        return np.where(lam * p < 1.0, lam, np.nan)  # inf * 0 (no one in flight, no prefill) is nan: no rate


def _prefill(m: IterationModel, n: np.ndarray, t: np.ndarray, t1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p, k) with `n` in flight: a prompt's time from the iterations and the prompts of its pass."""
    ones = np.ones_like(np.broadcast_to(m.prefill_s, np.shape(n)), dtype=float)
    if m.pass_prefill_s is None:
        return m.prefill_s * ones, ones
    most = np.inf * ones if m.pass_max is None else np.maximum(m.pass_max, 1.0) * ones
    k = ones
    for _ in range(GATHER_SUBSTITUTIONS):
        p = m.pass_prefill_s(k)
        lam = _rate_pk(m, n, t, t1, p, k)
        stable = np.isfinite(lam) & (lam * p < 1.0)
        tpot = t1 / np.where(stable, 1.0 - lam * p, 1.0)
        k = np.maximum(gathered_prompts(np.where(stable, lam * tpot / m.points_per_iteration, np.inf), most), 1.0)
    return m.pass_prefill_s(k), k


def _rate(m: IterationModel, n: np.ndarray, t: np.ndarray, t1: np.ndarray) -> np.ndarray:
    return _rate_pk(m, n, t, t1, *_prefill(m, n, t, t1))


def _latencies(
    m: IterationModel,
    n: np.ndarray,
    lam: np.ndarray,
    t: np.ndarray,
    t1: np.ndarray,
    pk: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    p, k = _prefill(m, n, t, t1) if pk is None else pk
    r = np.minimum(lam * p, 1.0 - 1e-12)
    ttft = m.alone_s + m.wait_share * np.minimum(n, 1.0) * t + (k - 1.0) * p + r * k * p / (2.0 * (1.0 - r))
    tpot = np.where(m.output_len > 1.0, t1 / (1.0 - r), 0.0)
    return ttft, tpot


def rate_at(m: IterationModel, n: np.ndarray) -> np.ndarray:
    """lambda(N): the arrival rate at which `n` requests are in flight (nan where none is)."""
    return _rate(m, n, *_times(m, n))


def latencies(m: IterationModel, n: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(TTFT s, TPOT s) with `n` in flight at rate `lam` (TPOT 0 for single-token requests)."""
    return _latencies(m, n, lam, *_times(m, n))


def _point(m: IterationModel, n: np.ndarray, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TTFT s, TPOT s, prefill share r = lambda p) with `n` in flight at rate `lam`."""
    t, t1 = _times(m, n)
    pk = _prefill(m, n, t, t1)
    ttft, tpot = _latencies(m, n, lam, t, t1, pk)
    return ttft, tpot, lam * pk[0]


def _ok(m: IterationModel, n: np.ndarray, ttft_s: float, tpot_s: float) -> np.ndarray:
    t, t1 = _times(m, n)
    pk = _prefill(m, n, t, t1)
    lam = _rate_pk(m, n, t, t1, *pk)
    ttft, tpot = _latencies(m, n, np.where(np.isfinite(lam), lam, 0.0), t, t1, pk)
    return np.asarray(
        np.isfinite(lam) & (n <= m.limit) & (ttft <= ttft_s) & ((m.output_len <= 1.0) | (tpot <= tpot_s))
    )


def capacity(m: IterationModel, ttft_s: float, tpot_s: float) -> np.ndarray:
    """Largest arrival rate per class meeting both targets (0 where even a lone request misses one or
    the class is never admitted)."""
    k = m.limit.shape[0]
    if k == 0:
        return np.zeros(0)
    top = np.maximum(m.limit, N_MIN)
    lo = np.full(k, math.log(N_MIN))
    hi = np.log(top)
    if math.isinf(ttft_s) and not (m.prefill_s.any() or m.alone_s.any() or m.wait_share.any()):
        # a pure decode replica: only TPOT = t(max(N, 1)) and the admission limit bind (one t per step)
        def ok(n: np.ndarray) -> np.ndarray:
            return np.asarray((n <= m.limit) & ((m.output_len <= 1.0) | (m.step_s(np.maximum(n, 1.0)) <= tpot_s)))
    else:

        def ok(n: np.ndarray) -> np.ndarray:
            return _ok(m, n, ttft_s, tpot_s)

    feasible = ok(np.full(k, N_MIN)) & (m.limit >= 1.0)
    all_ok = ok(top)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2.0
        good = ok(np.exp(mid))
        lo = np.where(good, mid, lo)
        hi = np.where(good, hi, mid)
    n_c = np.where(all_ok, top, np.exp(lo))
    lam = rate_at(m, n_c)
    lam = np.where(np.isfinite(lam), lam, 0.0)
    return np.where(feasible, lam, 0.0)


@dataclass(frozen=True)
class OperatingPoint:
    """Steady state of one class at a given rate (times in seconds)."""

    in_flight: float
    ttft_s: float  # inf when saturated
    tpot_s: float
    rate_rps: float  # served: the offered rate, or the most the replica sustains when saturated
    saturated: bool
    prefill_share: float


def operating_point(m: IterationModel, rate_rps: float) -> OperatingPoint:
    """Where one class (arrays of length 1) settles at `rate_rps`: the least N with lambda(N) >= rate."""
    top = np.maximum(m.limit, 1.0)
    lam_top = rate_at(m, top)
    if not np.isfinite(lam_top[0]) or lam_top[0] < rate_rps:
        # the queue grows without bound: report the saturated replica at its admission limit
        n = top if np.isfinite(lam_top[0]) else _last_reachable(m, top)
        lam = np.nan_to_num(rate_at(m, n))
        _ttft, tpot, share = _point(m, n, lam)
        return OperatingPoint(float(n[0]), math.inf, float(tpot[0]), float(lam[0]), True, float(share[0]))
    lo, hi = math.log(N_MIN), math.log(float(top[0]))
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2.0
        lam = rate_at(m, np.asarray([math.exp(mid)]))
        if np.isfinite(lam[0]) and lam[0] >= rate_rps:
            hi = mid
        else:
            lo = mid
    n = np.asarray([math.exp(hi)])
    lam = np.asarray([rate_rps])
    ttft, tpot, share = _point(m, n, lam)
    return OperatingPoint(float(n[0]), float(ttft[0]), float(tpot[0]), rate_rps, False, float(share[0]))


def _last_reachable(m: IterationModel, top: np.ndarray) -> np.ndarray:
    """The largest N <= top that some rate reaches (bisection on log N)."""
    lo, hi = math.log(N_MIN), math.log(float(top[0]))
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2.0
        if np.isfinite(rate_at(m, np.asarray([math.exp(mid)]))[0]):
            lo = mid
        else:
            hi = mid
    return np.asarray([math.exp(lo)])
