"""Continuous-batching serving model: latency and throughput of one replica under load, and the largest
arrival rate that meets TTFT/TPOT targets.

For a request class (I input, O output tokens) with N requests in flight:

    t_d(N)  decode step at batch N and mean context I + O/2          (roofline.decode_step_s)
    p       marginal prefill time of one prompt on a busy replica     (roofline.prefill_marginal_s)
    r       = lambda x p, the share of time spent prefilling (prefill interference)
    TPOT    = t_d(N) / (1 - r)                        prefills of others steal decode time
    TTFT    = prefill_alone(I) + w t_d(N) + (k - 1) p + r k p / (2 (1 - r))   (no w t_d(N) wait when O = 1)
              (w = half the step in progress, plus the step an overlap scheduler launched ahead; then
              the k - 1 other prompts of its prefill pass and an M/D/1 wait behind other passes)
    k       prompts per prefill pass: 1 for engines that mix prompts into decode steps; for those that
            prefill in passes of their own, the prompts that arrived during one iteration (`_open_loop`)
    N       = lambda x (TTFT + (O - 1) x TPOT)        Little's law

Open loop (rate lambda): N is the smallest fixed point of Little's law, in closed form because t_d is a
max of affine pieces in N (MoE: the concave "experts touched" curve is the minimum of its tangents) on
each side of the engine's largest CUDA-graph batch, past which it steps up to the eager host time (for
a given k; k itself by bisection, `_open_loop`). If that N exceeds what the KV cache (or the engine's
sequence limit) admits, requests queue without bound: the replica is saturated and TTFT grows with
time. Closed loop (concurrency C): N = min(C, limit), lambda solves a quadratic, and the C - N requests
that do not fit wait in the queue.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from planner.errors import InfeasibleError
from planner.perf.deployment import Deployment
from planner.perf.iteration import gathered_prompts
from planner.perf.memory import kv_admitted, memory_breakdown
from planner.perf.roofline import (
    Coeffs,
    coefficients,
    decode_parts,
    decode_step_s,
    host_floor_s,
    prefill_alone_s,
    prefill_marginal_s,
    prompts_per_pass,
    touched_tangents,
)

LAMBDA_MIN_RPS = 1e-6  # capacities below this are reported as 0
LAMBDA_MAX_RPS = 1e6
_GRID = 16  # points per refinement round
_ROUNDS = 4  # finest log step: ln(1e12) / 16^4 = 0.04 % of the rate
GATHER_ROUNDS = 7  # halvings of log k in [0, log g(1)], the prompts a pass gathers (`_open_loop`)


@dataclass(frozen=True)
class ServingPoint:
    """Steady state of one replica for one request class. Times in ms, rates per replica."""

    ttft_ms: float  # math.inf when saturated (the queue grows without bound)
    tpot_ms: float  # mean time per output token after the first (0 when output_len == 1)
    e2e_ms: float
    output_tokens_per_s: float
    requests_per_s: float
    concurrency: float  # mean requests in flight (holding KV cache)
    admission_limit: float  # most requests in flight the KV cache and the scheduler allow
    max_concurrency: int  # requests of input+output tokens the KV cache holds at once
    kv_limited: bool  # the KV cache (not the scheduler's sequence limit) bounds concurrency and it binds
    saturated: bool  # open loop: the arrival rate exceeds what the replica serves
    prefill_share: float  # r: share of time spent on prefills
    decode_step_ms: float
    prefill_ms: float  # prefill of one prompt on an idle replica


def _admission(c: Coeffs, dep: Deployment, i: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(admission limit N_lim, whether the KV cache is what limits it) per request class: what the KV
    cache admits (`memory.kv_admitted`) within the engine's sequence limit."""
    n_kv = kv_admitted(dep, i, o)
    return np.minimum(n_kv, c.max_seqs), n_kv < c.max_seqs


def _parts(c: Coeffs, i: np.ndarray, o: np.ndarray) -> dict[str, np.ndarray]:
    """Request-class constants of the serving model, shaped (classes, 1) to broadcast against rates."""
    ctx = i + o / 2.0
    mem, comp, comm, fixed = decode_parts(c, ctx)
    intercepts, slopes = touched_tangents(c)
    col = (-1, 1)
    return {
        "i": i.reshape(col),
        "p": np.asarray(prefill_marginal_s(c, i), dtype=float).reshape(col),
        "t_ps": np.asarray(prefill_alone_s(c, i), dtype=float).reshape(col),
        "o1": np.maximum(o - 1.0, 0.0).reshape(col),
        # decode steps an arriving prompt waits (half the one in progress, and the one launched ahead under
        # an overlap scheduler); with single-token requests there are no decode steps to wait for
        "wait_steps": np.where(o > 1.0, c.arrival_wait_steps, 0.0).reshape(col),
        "ctx": ctx.reshape(col),
        "mem": np.asarray(mem).reshape(col),
        "comp": np.asarray(comp).reshape(col),
        "comm": np.asarray(comm).reshape(col),
        "fixed": np.asarray(fixed).reshape(col),
        "host": (c.host_s + np.asarray(fixed)).reshape(col),
        "host_eager": (c.eager_host_s + np.asarray(fixed)).reshape(col),
        # memory pieces of t_d, one per tangent of the experts-touched curve: alpha + beta N
        "mem_alpha": ((c.dense_bytes + c.expert_bytes * intercepts) / c.bw_bps + np.asarray(fixed)[0]).reshape(
            1, 1, -1
        ),
        "mem_beta": (
            np.asarray(mem).reshape(-1, 1, 1)
            + (c.expert_bytes * slopes / c.bw_bps).reshape(1, 1, -1)
            + np.asarray(comm).reshape(-1, 1, 1)
        ),
    }


def _step_s(c: Coeffs, n: np.ndarray, parts: dict[str, np.ndarray]) -> np.ndarray:
    """Decode step time at batch n (exact experts-touched curve), broadcasting over classes."""
    weights: np.ndarray = np.full_like(n, c.dense_bytes / c.bw_bps)
    if c.experts:
        q = 1.0 - c.top_k / c.experts
        weights = weights + c.expert_bytes * c.experts_local * (1.0 - np.power(q, n)) / c.bw_bps
    gpu = np.maximum(np.maximum(weights + n * parts["mem"], n * parts["comp"]), host_floor_s(c, n))
    out: np.ndarray = gpu + n * parts["comm"] + parts["fixed"]
    return out


def _prompt_wait_s(r: np.ndarray, p: np.ndarray, k: np.ndarray) -> np.ndarray:
    """What a prompt waits beyond its lone prefill: the k - 1 others of its prefill pass, and, M/D/1, the
    passes ahead of it (service time k p, utilisation r)."""
    one_minus = np.where(r < 1.0, 1.0 - r, 1.0)
    out: np.ndarray = (k - 1.0) * p + r * k * p / (2.0 * one_minus)
    return out


def _fixed_point(
    c: Coeffs, lam: np.ndarray, parts: dict[str, np.ndarray], p: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest N with N >= lambda (TTFT(N) + (O-1) TPOT(N)), and r = lambda p; N = inf where no
    stable N exists (p: marginal prefill of a prompt, k: prompts per prefill pass). The w t_d(N) term of
    TTFT is taken at full weight (an upper bound) so that the right side is a max of affine pieces:
    N >= a + b (alpha + beta N) <=> N >= (a + b alpha)/(1 - b beta).
    """
    r = lam * p
    stable = r < 1.0
    one_minus = np.where(stable, 1.0 - r, 1.0)
    a = lam * (parts["t_ps"] + _prompt_wait_s(r, p, k))
    b = lam * (parts["wait_steps"] + parts["o1"] / one_minus)
    a3, b3 = a[..., None], b[..., None]
    den_mem = 1.0 - b3 * parts["mem_beta"]
    r_mem = np.where(den_mem > 0.0, (a3 + b3 * parts["mem_alpha"]) / np.where(den_mem > 0.0, den_mem, 1.0), np.inf).min(
        axis=-1
    )
    den_comp = 1.0 - b * (parts["comp"] + parts["comm"])
    r_comp = np.where(den_comp > 0.0, (a + b * parts["fixed"]) / np.where(den_comp > 0.0, den_comp, 1.0), np.inf)
    # eager host piece: t_d >= host + fixed + comm N
    den_host = 1.0 - b * parts["comm"]
    ok_host = den_host > 0.0
    safe_den = np.where(ok_host, den_host, 1.0)
    r_host = np.where(ok_host, (a + b * parts["host"]) / safe_den, np.inf)
    n = np.maximum(np.maximum(r_mem, r_comp), r_host)
    # past the largest CUDA-graph batch the step runs eager (a step up in t_d): the right side is then
    # below N nowhere at or under the limit, so the fixed point is the one with the eager host piece
    r_eager = np.where(ok_host, (a + b * parts["host_eager"]) / safe_den, np.inf)
    n = np.where(n > c.graph_max_batch, np.maximum(n, r_eager), n)
    return np.where(stable, n, np.inf), r


def _latencies(
    c: Coeffs, n: np.ndarray, r: np.ndarray, parts: dict[str, np.ndarray], p: np.ndarray, k: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(TTFT s, TPOT s) of the open-loop model at N in flight and prefill share r."""
    n_fin = np.where(np.isfinite(n), n, 0.0)
    one_minus = np.where(r < 1.0, 1.0 - r, 1.0)
    ttft = (
        c.request_s
        + parts["t_ps"]
        + parts["wait_steps"] * np.minimum(n_fin, 1.0) * _step_s(c, n_fin, parts)
        + _prompt_wait_s(r, p, k)
    )
    tpot = _step_s(c, np.maximum(n_fin, 1.0), parts) / one_minus
    return ttft, tpot


def _open_loop(
    c: Coeffs, lam: np.ndarray, parts: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N, r, TTFT s, TPOT s) of the open loop at rates `lam`.

    An engine that prefills in passes of its own schedules every prompt it has read when it composes an
    iteration, so a pass holds the prompts that arrived during one earlier iteration (a decode step, or
    a pass). Per decode step the replica spends TPOT and runs a pass with probability q, so an iteration
    lasts TPOT / (1 + q) on average; with m = lambda TPOT / (1 + q) arrivals per iteration (Poisson) and
    q = 1 - e^-m, a pass holds g = m / (1 - e^-m) prompts on average (one at low rates, m at high ones),
    at most the token budget's worth. The prompts of a pass share its weight read and fixed costs
    (`prefill_marginal_s` with k per pass), so TPOT, and with it g, falls as k grows: the k with g(k) = k
    is found by bisection on log k between 1 and g(1) (GATHER_ROUNDS halvings, keeping the lower end).
    Past saturation at some k (no stable N) g is the budget's worth. Under DP attention each rank
    schedules the prompts sent to it, lambda / ranks. Engines that mix prompts into decode steps have no
    pass of their own: k = 1."""
    shape = np.broadcast_shapes(lam.shape, parts["p"].shape)

    def solve(k: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        p = np.asarray(prefill_marginal_s(c, parts["i"], k), dtype=float) if c.separate_prefill else parts["p"]
        n, r = _fixed_point(c, lam, parts, p, k)
        ttft, tpot = _latencies(c, n, r, parts, p, k)
        return n, r, ttft, tpot

    if not c.separate_prefill:
        return solve(np.ones(shape))
    k_max = np.broadcast_to(prompts_per_pass(c, parts["i"]), shape)

    def gathered(n: np.ndarray, r: np.ndarray, tpot: np.ndarray) -> np.ndarray:
        return gathered_prompts(np.where(np.isfinite(n) & (r < 1.0), lam / c.dp_ranks * tpot, np.inf), k_max)

    one = np.ones(shape)
    first = solve(one)
    g1 = gathered(first[0], first[1], first[3])
    if not (g1 > 1.0 + 1e-9).any():
        return first
    # g falls as k grows, so the fixed point lies in [1, g(1)]
    lo, hi = np.zeros(shape), np.log(g1)
    for _ in range(GATHER_ROUNDS):
        mid = 0.5 * (lo + hi)
        k = np.exp(mid)
        n, r, _, tpot = solve(k)
        more = gathered(n, r, tpot) > k
        lo, hi = np.where(more, mid, lo), np.where(more, hi, mid)
    return solve(np.exp(lo))


def _feasible(
    c: Coeffs, lam: np.ndarray, parts: dict[str, np.ndarray], n_lim: np.ndarray, ttft_s: float, tpot_s: float
) -> np.ndarray:
    n, r, ttft, tpot = _open_loop(c, lam, parts)
    ok = (r < 1.0) & (n <= n_lim) & (ttft <= ttft_s)
    return np.asarray(ok & ((parts["o1"] <= 0.0) | (tpot <= tpot_s)))


def capacity_rps_many(
    dep: Deployment, lengths: Sequence[tuple[int, int]], ttft_ms: float, tpot_ms: float
) -> list[float]:
    """Largest open-loop arrival rate (req/s per replica) meeting both SLOs at the mean, per (I, O).

    0.0 where even a lone request misses an SLO or does not fit. The rate is the largest point of a
    fixed log-spaced grid over [LAMBDA_MIN_RPS, LAMBDA_MAX_RPS] (found by nested grid refinement) where
    a predicate monotone in rate, lengths and SLOs holds; so the result is exactly monotone:
    non-increasing in input and output length, non-decreasing in each SLO.
    """
    if not lengths:
        return []
    c = coefficients(dep)
    if not c.fits:
        return [0.0] * len(lengths)
    arr = np.asarray(lengths, dtype=float).reshape(-1, 2)
    i, o = arr[:, 0], arr[:, 1]
    parts = _parts(c, i, o)
    n_lim = _admission(c, dep, i, o)[0].reshape(-1, 1)
    ttft_s, tpot_s = ttft_ms * 1e-3, tpot_ms * 1e-3
    lo = np.full((i.size, 1), math.log(LAMBDA_MIN_RPS))
    step = (math.log(LAMBDA_MAX_RPS) - math.log(LAMBDA_MIN_RPS)) / _GRID
    any_ok = _feasible(c, np.exp(lo), parts, n_lim, ttft_s, tpot_s)[:, 0]
    offsets = np.arange(_GRID + 1, dtype=float).reshape(1, -1)
    for _ in range(_ROUNDS):
        ok = _feasible(c, np.exp(lo + offsets * step), parts, n_lim, ttft_s, tpot_s)
        # last grid point where the (monotone) predicate holds; the next round refines that cell
        last = np.where(ok.any(axis=1), (_GRID - np.argmax(ok[:, ::-1], axis=1)), 0).reshape(-1, 1)
        last = np.minimum(last, _GRID)
        lo = lo + last * step
        step /= _GRID
    return [float(x) for x in np.where(any_ok, np.exp(lo[:, 0]), 0.0)]


def capacity_rps(dep: Deployment, input_len: int, output_len: int, ttft_ms: float, tpot_ms: float) -> float:
    """Largest open-loop arrival rate (req/s per replica) meeting both SLOs; 0.0 if none does."""
    return capacity_rps_many(dep, [(input_len, output_len)], ttft_ms, tpot_ms)[0]


def _closed_loop(c: Coeffs, n: float, parts: dict[str, np.ndarray]) -> tuple[float, float, float, float]:
    """(lambda, TTFT s, TPOT s, r) with exactly n requests in flight (closed loop, no queue).

    With N-1 other requests cycling, their prefills take the share r_o = lambda p (N-1)/N of the time.
    Little's law then gives A lambda^2 - B lambda + N = 0; the smaller root is the stable one.

    An engine that prefills in passes of its own gathers the prompts that arrive during a decode step
    into one pass: k = N / O of them (each of the N requests finishes once per O steps and is replaced at
    once), within the engine's token budget; they share the pass's weight read and fixed costs (p per
    prompt), and a prompt's first token waits for the k - 1 others of its pass and, M/D/1, for the
    passes ahead of it (service time k p).
    """
    p, t_ps, o1, ctx, i = (float(parts[k].item()) for k in ("p", "t_ps", "o1", "ctx", "i"))
    per_pass = 1.0
    if c.separate_prefill and n > 1.0:
        per_pass = max(min(n / (o1 + 1.0), c.max_batched_tokens / max(i, 1.0)), 1.0)
        p = float(prefill_marginal_s(c, i, per_pass))
    td = float(decode_step_s(c, n, ctx))
    td1 = float(decode_step_s(c, max(n, 1.0), ctx))
    others = max(n - 1.0, 0.0)
    kappa = min(others, 1.0)
    p_o = p * others / n if n > 0 else 0.0
    # single-token requests never wait for a decode step; multi-step rounds make the wait longer
    step_wait = c.arrival_wait_steps * td if o1 > 0 else 0.0
    u = kappa * step_wait
    v = o1 * td1
    a_coef = p_o * (t_ps + u - kappa * p / 2.0)
    b_coef = t_ps + u + v + n * p_o
    disc = max(b_coef * b_coef - 4.0 * a_coef * n, 0.0)
    lam = 2.0 * n / (b_coef + math.sqrt(disc))
    # work conservation: each request needs p of prefill and (O-1) decode steps shared by n requests
    lam = min(lam, 1.0 / (p + o1 * td1 / n))
    r_o = min(lam * p_o, 0.999999)
    wait = step_wait + float(_prompt_wait_s(np.asarray(r_o), np.asarray(p), np.asarray(per_pass)))
    ttft = t_ps + kappa * wait
    tpot = td1 / (1.0 - r_o)
    # each client also spends the request overhead (tokenisation, HTTP) before the engine sees it
    lam = n / (n / lam + c.request_s)
    return lam, ttft + c.request_s, tpot, lam * p


def predict(
    dep: Deployment,
    input_len: int,
    output_len: int,
    *,
    rate_rps: float | None = None,
    concurrency: int | Literal["max"] | None = None,
) -> ServingPoint:
    """Latency and throughput of one replica: open loop at `rate_rps`, closed loop at `concurrency`
    requests, `concurrency="max"` for the fully loaded offline case; neither means one lone request."""
    if rate_rps is not None and concurrency is not None:
        raise ValueError("give rate_rps or concurrency, not both")
    c = coefficients(dep)
    if not c.fits:
        raise InfeasibleError(memory_breakdown(dep).reason)
    i = np.asarray([float(input_len)])
    o = np.asarray([float(output_len)])
    parts = _parts(c, i, o)
    n_lim_arr, kv_binds_arr = _admission(c, dep, i, o)
    n_lim, kv_binds = float(n_lim_arr[0]), bool(kv_binds_arr[0])
    mem_ctx = memory_breakdown(dep, input_len + output_len)
    if n_lim < 1.0:
        if input_len + output_len - 1 > dep.context_window:
            raise InfeasibleError(
                f"{input_len} input + {output_len} output tokens need {input_len + output_len - 1} positions; "
                f"{dep.model.id}'s context window is {dep.context_window}"
            )
        raise InfeasibleError(mem_ctx.reason or f"one request of {input_len + output_len} tokens does not fit")
    prefill_ms = float(parts["t_ps"].item()) * 1e3
    saturated = False
    queue_s = 0.0
    if rate_rps is not None:
        lam_arr = np.asarray([[float(rate_rps)]])
        n_arr, r_arr, ttft_arr, tpot_arr = _open_loop(c, lam_arr, parts)
        n = float(n_arr.item())
        if math.isfinite(n) and n <= n_lim:
            lam, ttft, tpot, r = (
                float(rate_rps),
                float(ttft_arr.item()),
                float(tpot_arr.item()),
                float(r_arr.item()),
            )
            kv_limited = False
        else:
            saturated = True
            n = n_lim
            lam, ttft, tpot, r = _closed_loop(c, n, parts)
            lam, ttft = min(lam, float(rate_rps)), math.inf
            kv_limited = kv_binds
    else:
        want = n_lim if concurrency == "max" else float(concurrency if concurrency is not None else 1)
        if want < 1:
            raise ValueError("concurrency must be >= 1")
        n = min(want, n_lim)
        lam, ttft, tpot, r = _closed_loop(c, n, parts)
        if want > n:
            queue_s = (want - n) / lam
        kv_limited = kv_binds and want >= n_lim
        ttft += queue_s
    o1 = max(output_len - 1, 0)
    tpot_out = tpot if o1 else 0.0
    return ServingPoint(
        ttft_ms=ttft * 1e3,
        tpot_ms=tpot_out * 1e3,
        e2e_ms=(ttft + o1 * tpot_out) * 1e3,
        output_tokens_per_s=lam * output_len,
        requests_per_s=lam,
        concurrency=n,
        admission_limit=n_lim,
        max_concurrency=int(mem_ctx.max_requests),
        kv_limited=kv_limited,
        saturated=saturated,
        prefill_share=min(r, 1.0),
        decode_step_ms=float(decode_step_s(c, max(n, 1.0), input_len + output_len / 2.0)) * 1e3,
        prefill_ms=prefill_ms,
    )
