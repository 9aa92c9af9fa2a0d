"""The estimator's value for each published measurement (planner/perf/measured.py), its regime, and the
error figures bench/estimator_accuracy.py prints and tests bound.

A regime is engine x load level x GPU family x dense/MoE x TP bucket. Load levels come from how the
source applied the load, not from the model: `b1` (one request at a time), `low` (static batch or
closed loop of 2-16), `online` (Poisson arrivals below saturation), `high` (32+ in flight, offline
max load, or a run past saturation).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from catalog.types import Catalog, EngineFactors, EngineProfile
from planner.perf.deployment import Deployment
from planner.perf.measured import MeasuredRow, load_rows
from planner.perf.profiles import engine_profile
from planner.perf.roofline import Coeffs, batch_prefill_s, coefficients, decode_step_s, static_batch_s
from planner.perf.serving import ServingPoint, predict

__all__ = [
    "EARLY_FACTORS",
    "LEGACY_FACTORS",
    "LEGACY_PREFIX",
    "MeasuredRow",
    "TARGET_MEDIAN",
    "TARGET_P90",
    "TARGET_REGIME_MEDIAN",
    "RowResult",
    "by_regime",
    "deployment_for",
    "error_summary",
    "evaluate",
    "load_rows",
    "predict_row",
    "profile_for_row",
    "quantile",
    "regime",
]

# Runtime factors of the TensorRT-LLM v0.5/v0.6 (2023) rows are nuisance parameters of the fit: stored in
# the profile's `extra` under this prefix so the accuracy table is reproducible, never used for estimates.
LEGACY_PREFIX = "legacy_"
LEGACY_FACTORS = ("step_overhead_ms", "allreduce_latency_us", "gqa_kv_reload_share", "allreduce_bw_efficiency")
# Factors an early engine release's MoE path runs at its own value (MeasuredRow.early_moe: vLLM 0.4.2's
# Qwen2-MoE, SGLang 0.4.1's first DeepSeek-V3 path, the same Triton kernel on its default tiles): one
# value for both, stored in every profile as legacy_<name>, never used for estimates.
EARLY_FACTORS = ("moe_gemm_efficiency",)

LoadLevel = Literal["b1", "low", "online", "high"]


def profile_for_row(row: MeasuredRow, profile: EngineProfile) -> EngineProfile:
    """The profile to predict `row` with: legacy rows swap in the legacy runtime factors, early-MoE rows
    the early release's MoE factor (when the profile has one)."""
    if row.early_moe and not row.legacy:
        early = profile.extra.given()
        swap = {n: early[LEGACY_PREFIX + n] for n in EARLY_FACTORS if LEGACY_PREFIX + n in early}
        if not swap:
            return profile
        return profile.model_copy(update={"extra": EngineFactors.model_validate(early | swap)})
    if not row.legacy:
        return profile
    extra = profile.extra.given()
    overhead = extra.get(LEGACY_PREFIX + "step_overhead_ms", profile.step_overhead_ms)
    for name in LEGACY_FACTORS[1:]:
        if LEGACY_PREFIX + name in extra:
            extra[name] = extra[LEGACY_PREFIX + name]
    # the 2023 static runtime had no per-sequence scheduler work or request handling to speak of
    extra["seq_overhead_us"] = 0.0
    extra["request_overhead_ms"] = 0.0
    return profile.model_copy(update={"step_overhead_ms": overhead, "extra": EngineFactors.model_validate(extra)})


def deployment_for(row: MeasuredRow, catalog: Catalog, profile: EngineProfile) -> Deployment:
    """The deployment a row was measured on."""
    return Deployment(
        catalog.models[row.model],
        catalog.gpus[row.gpu],
        row.tp,
        row.weights,
        row.kv,
        profile_for_row(row, profile),
        gpu_memory_utilization=row.gpu_memory_utilization,
        ep=row.ep,
        dp_attention=row.dp_attention,
        eager=row.eager,
        nodes=row.nodes,
        max_num_seqs=row.max_seqs or None,
        cuda_graph_max_batch=row.cuda_graph_max_batch or None,
        overlap_schedule=row.overlap_schedule,
        scheduler_steps=row.scheduler_steps,
        max_model_len=max(int(row.input_len + row.output_len), catalog.models[row.model].max_position),
    )


def _median_wait_s(mean_wait_s: float, busy: float) -> float:
    """Median of a queueing wait with mean `mean_wait_s` when a share `busy` of arrivals waits at all:
    zero while at most half wait, else the median of an exponential tail (M/M/1-like approximation)."""
    if busy <= 0.5 or mean_wait_s <= 0.0:
        return 0.0
    return mean_wait_s / busy * math.log(2.0 * busy)


def _ttft_s(c: Coeffs, point: ServingPoint, output_len: float) -> tuple[float, float]:
    """(mean, median) TTFT of a steady serving point: the request's own prefill, the decode step in
    progress (none for one output token) and the wait behind other prompts, whose median is zero while
    at most half the arrivals wait."""
    mean = point.ttft_ms * 1e-3
    step_s = point.decode_step_ms * 1e-3
    base = c.request_s + point.prefill_ms * 1e-3 + (c.arrival_wait_steps * step_s if output_len > 1 else 0.0)
    return mean, base + _median_wait_s(mean - base, point.prefill_share)


@dataclass(frozen=True)
class FiniteRun:
    """What a benchmark of `prompts` requests sent at a rate one replica cannot sustain measures."""

    ttft_mean_s: float
    ttft_median_s: float
    tpot_mean_s: float
    tpot_median_s: float
    step_median_s: float  # the decode step the median request sees (its median inter-token gap)
    requests_per_s: float  # prompts over the time from the first send to the last reply


FLUID_SAMPLES = 256  # arrival times the run's means average over


def fluid_batch(
    n_grid: np.ndarray, mu: np.ndarray, rate_rps: float, times_s: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(requests in flight, requests queued) at `times_s` after the first arrival of a run offered
    `rate_rps`: the batch grows as dN/dt = rate - mu(N), with mu piecewise linear between the nodes
    `n_grid` (first 0, last the admission limit), solved exactly on each piece (an exponential approach
    to where mu(N) = rate, if a piece gets there); once the batch is at the limit, what arrives faster
    than mu(limit) completes waits in the queue."""
    starts, base, gap, slope = [0.0], [], [], []
    for j in range(len(n_grid) - 1):
        dn = float(n_grid[j + 1] - n_grid[j])
        s = float(mu[j + 1] - mu[j]) / dn
        g_in, g_out = rate_rps - float(mu[j]), rate_rps - float(mu[j + 1])
        base.append(float(n_grid[j]))
        gap.append(g_in)
        slope.append(s)
        if g_out <= 0.0:
            starts.append(math.inf)  # the batch settles inside this piece
            break
        starts.append(starts[-1] + (dn / g_in if abs(s) * dn < 1e-9 * g_in else math.log(g_in / g_out) / s))
    piece = np.searchsorted(np.asarray(starts), times_s, side="right") - 1
    inside = piece < len(base)
    k = np.minimum(piece, len(base) - 1)
    tau = np.where(inside, times_s - np.asarray(starts)[k], 0.0)
    s_k, g_k = np.asarray(slope)[k], np.asarray(gap)[k]
    flat = np.abs(s_k) < 1e-12
    grown = np.where(flat, g_k * tau, g_k / np.where(flat, 1.0, s_k) * -np.expm1(-s_k * tau))
    batch = np.where(inside, np.asarray(base)[k] + grown, float(n_grid[-1]))
    full_s = starts[-1]  # when the batch reaches the limit (inf: it settles below it)
    over = max(rate_rps - float(mu[-1]), 0.0)
    queue = over * np.maximum(times_s - full_s, 0.0) if math.isfinite(full_s) else np.zeros_like(times_s)
    return batch, queue


def finite_run(
    dep: Deployment, input_len: int, output_len: int, rate_rps: float, prompts: int, limit: float
) -> FiniteRun:
    """A finite open-loop run past saturation, as a fluid model (`fluid_batch`): the engine admits arrivals
    while it has room (`limit` in flight: its sequence limit or KV cache), so the batch grows at the
    arrival rate less the completion rate mu(N) (the closed loop at N in flight) until mu(N) reaches the
    rate or the batch the limit; from then on what arrives waits in a queue that drains at mu(limit).

    Every request sees the batch of its arrival time; the median request of the run is the one arriving at
    half the window (batch and queue only grow while requests arrive), means average over the window.
    Throughput: `prompts` over the window, the last arrival's wait and its own end-to-end time. (The
    steady open-loop model has no answer here: its batch and queue grow without bound.)"""
    c = coefficients(dep)
    top = max(limit, 1.0)
    nodes = {2.0**k for k in range(int(math.log2(top)) + 1)} | {top}
    if c.graph_max_batch < top:
        # the step from graph to eager decode: mu(N) falls there, so both sides are nodes
        cap = math.floor(c.graph_max_batch)
        nodes |= {float(cap), float(min(cap + 1, top))}
    grid = sorted(nodes)
    points = [predict(dep, input_len, output_len, concurrency=round(n)) for n in grid]
    n_grid = np.asarray([0.0, *grid])
    mu = np.asarray([0.0, *(p.requests_per_s for p in points)])
    window_s = prompts / rate_rps
    # FLUID_SAMPLES arrivals spread over the window for the means, then the median arrival ([-2]) and the last ([-1])
    times = np.append((np.arange(FLUID_SAMPLES) + 0.5) / FLUID_SAMPLES, [0.5, 1.0]) * window_s
    batch, queue = fluid_batch(n_grid, mu, rate_rps, times)
    waits = queue / mu[-1]

    def at(values: Sequence[float]) -> np.ndarray:
        return np.asarray(np.interp(batch, n_grid[1:], np.asarray(values)), dtype=float)

    ttft_pairs = [_ttft_s(c, p, output_len) for p in points]
    ttft_mean = at([m for m, _ in ttft_pairs]) + waits
    ttft_median = at([m for _, m in ttft_pairs]) + waits
    tpot = at([p.tpot_ms * 1e-3 for p in points])
    step = at([p.decode_step_ms * 1e-3 for p in points])
    run = slice(0, FLUID_SAMPLES)
    last_e2e = float(ttft_mean[-1] + max(output_len - 1, 0) * tpot[-1])
    return FiniteRun(
        ttft_mean_s=float(ttft_mean[run].mean()),
        ttft_median_s=float(ttft_median[-2]),
        tpot_mean_s=float(tpot[run].mean()),
        tpot_median_s=float(tpot[-2]),
        step_median_s=float(step[-2]),
        requests_per_s=prompts / (window_s + last_e2e),
    )


def predict_row(row: MeasuredRow, dep: Deployment) -> float:  # noqa: C901 - one branch per kind of measurement
    """The estimator's value for `row`'s metric and statistic, in the row's unit."""
    c = coefficients(dep)
    i, o = row.input_len, row.output_len
    if row.metric == "prefill_tokens_per_s_per_gpu":
        # prefill-only nodes: each GPU prefills its own 16384-token batch of prompts per pass
        per_gpu = 16384.0
        t = float(batch_prefill_s(c, per_gpu * dep.tp / i, i))
        return per_gpu / t
    if row.metric == "decode_tokens_per_s_per_gpu":
        return float(row.batch / dep.tp) / float(decode_step_s(c, row.batch, i))
    if row.mode == "static":
        pre, total = static_batch_s(c, row.batch, i, o)
        if row.metric == "ttft_ms":
            return float(pre) * 1e3
        if row.metric in ("batch_latency_ms", "e2e_ms"):
            return float(total) * 1e3
        if row.metric == "output_tokens_per_s":
            return row.batch * o / float(total)
        return row.batch * o / float(total) / row.tp
    if row.mode == "rate":
        point = predict(dep, round(i), round(o), rate_rps=row.rate_rps)
    else:
        conc: int | Literal["max"] = row.batch if row.mode == "closed" else "max"
        point = predict(dep, round(i), round(o), concurrency=conc)
        if row.prompts and point.concurrency > row.prompts:
            point = predict(dep, round(i), round(o), concurrency=row.prompts)
    if point.saturated:
        run = finite_run(dep, round(i), round(o), row.rate_rps, row.prompts or 1000, point.admission_limit)
        ttft_mean_s, ttft_median_s = run.ttft_mean_s, run.ttft_median_s
        tpot_s = run.tpot_median_s if row.stat == "median" else run.tpot_mean_s
        step_s, rate = run.step_median_s, run.requests_per_s
    else:
        tpot_s = point.tpot_ms * 1e-3
        step_s = point.decode_step_ms * 1e-3
        ttft_mean_s, ttft_median_s = _ttft_s(c, point, o)
        rate = point.requests_per_s
        if row.mode == "rate" and row.prompts:
            # a benchmark's throughput is its tokens over the time from the first send to the last reply
            rate = row.prompts / (row.prompts / rate + ttft_mean_s + (o - 1.0) * tpot_s)
    if row.metric == "ttft_ms":
        return (ttft_median_s if row.stat == "median" else ttft_mean_s) * 1e3
    if row.metric == "tpot_ms":
        return tpot_s * 1e3
    if row.metric == "itl_ms":
        # the median gap between tokens is a decode step without a prefill in it
        return (step_s if row.stat == "median" else tpot_s) * 1e3
    if row.metric == "e2e_ms":
        ttft = ttft_median_s if row.stat == "median" else ttft_mean_s
        return (ttft + (o - 1.0) * tpot_s) * 1e3
    if row.metric == "requests_per_s":
        return rate
    return rate * o


@dataclass(frozen=True)
class RowResult:
    row: MeasuredRow
    predicted: float

    @property
    def rel_error(self) -> float:
        """(predicted - measured) / measured."""
        return (self.predicted - self.row.value) / self.row.value

    @property
    def log_error(self) -> float:
        return math.log(self.predicted / self.row.value) if self.predicted > 0 else -10.0


def load_level(row: MeasuredRow) -> LoadLevel:
    if row.saturated or row.mode == "max_load" or row.metric.endswith("_per_s_per_gpu") and row.batch == 0:
        return "high"
    if row.mode == "rate":
        return "online"
    if row.batch <= 1:
        return "b1"
    return "low" if row.batch <= 16 else "high"


def tp_bucket(tp: int) -> str:
    return "tp1" if tp == 1 else "tp2" if tp == 2 else "tp4-8" if tp <= 8 else "tp>8"


def regime(row: MeasuredRow, catalog: Catalog) -> tuple[str, str, str, str, str]:
    """(engine, load level, GPU family, dense|moe, TP bucket)."""
    arch = "moe" if catalog.models[row.model].is_moe else "dense"
    return (row.engine, load_level(row), catalog.gpus[row.gpu].family, arch, tp_bucket(row.tp))


# Issue 12's target for the cross-validated error: the overall median and p90, and every regime's median.
TARGET_MEDIAN = 0.15
TARGET_P90 = 0.35
TARGET_REGIME_MEDIAN = 0.25


def by_regime(results: Sequence[RowResult], catalog: Catalog) -> dict[str, list[RowResult]]:
    """Results grouped by regime ('engine/load/family/arch/tp'), in regime order."""
    groups: dict[str, list[RowResult]] = {}
    for r in results:
        groups.setdefault("/".join(regime(r.row, catalog)), []).append(r)
    return dict(sorted(groups.items()))


def evaluate(
    rows: Iterable[MeasuredRow],
    catalog: Catalog,
    profiles: Mapping[tuple[str, str], EngineProfile] | None = None,
) -> tuple[RowResult, ...]:
    """Predict every row with the profile of its (engine, GPU family): from `profiles` if given, else
    the catalog's (with the fallback rules of `engine_profile`)."""
    out = []
    for row in rows:
        gpu = catalog.gpus[row.gpu]
        fam = gpu.family
        profile = profiles[(row.engine, fam)] if profiles is not None else engine_profile(catalog, row.engine, gpu)
        out.append(scored(row, catalog, profile))
    return tuple(out)


def scored(row: MeasuredRow, catalog: Catalog, profile: EngineProfile) -> RowResult:
    """The row predicted with `profile`; a row the estimator cannot run, or predicts as zero or not
    finite, counts as a 10x miss (so a fit can never gain by breaking a row)."""
    try:
        value = predict_row(row, deployment_for(row, catalog, profile))
    except Exception:  # noqa: BLE001 - a row the estimator cannot run counts as a 10x miss
        value = row.value * 10.0
    return RowResult(row, value if value > 0 and math.isfinite(value) else row.value * 10.0)


def error_summary(results: Sequence[RowResult]) -> dict[str, tuple[int, float, float]]:
    """Per metric (and 'all'): (rows, median, p90) of the absolute relative error, scored rows only."""
    groups: dict[str, list[float]] = {}
    for res in results:
        if not res.row.scored:
            continue
        err = abs(res.rel_error)
        groups.setdefault(res.row.metric, []).append(err)
        groups.setdefault("all", []).append(err)
    return {k: (len(v), quantile(v, 0.5), quantile(v, 0.9)) for k, v in sorted(groups.items())}


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default)."""
    if not values:
        return math.nan
    return float(np.quantile(np.asarray(values, dtype=float), q))
