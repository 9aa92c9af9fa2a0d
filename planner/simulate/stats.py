"""The numbers of a simulation: latency summaries, target attainment, and the SimulationResult.

`simulation_result` turns what the servers recorded per request (first token, finish, schedule time,
rejection) into per-model, per-group and per-bucket latencies, SLO attainment, goodput, utilisation, KV
occupancy over time and a Little's-law check. Percentiles are nearest-rank (inverted CDF); a rejected
request counts as an infinite latency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from planner.inputs import PlanInputs
from planner.result import Plan
from planner.simulate.arrivals import Requests
from planner.simulate.options import SimulationOptions
from planner.simulate.result import (
    BucketSimulation,
    GroupSimulation,
    Latencies,
    LatencySummary,
    LittlesLaw,
    ModelSimulation,
    SimulationResult,
    SimulationSettings,
    TargetAttainment,
    TimelinePoint,
)
from planner.simulate.routing import BucketLookup, Group, Server
from planner.simulate.server import RequestTable
from planner.spec import ModelSpec, Slo, statistic_quantile

TIMELINE_WINDOWS = 50


def _pct(values: npt.NDArray[np.float64], q: float) -> float:
    return float(np.percentile(values, 100.0 * q, method="inverted_cdf"))


def _ms(x: float) -> float | None:
    return round(x * 1e3, 3) if math.isfinite(x) else None


def summarise(values_s: npt.NDArray[np.float64]) -> LatencySummary:
    """Mean, nearest-rank percentiles and max of latencies in seconds (inf = rejected) as ms."""
    if values_s.size == 0:
        return LatencySummary(count=0, mean_ms=None, p50_ms=None, p90_ms=None, p99_ms=None, max_ms=None)
    return LatencySummary(
        count=int(values_s.size),
        mean_ms=_ms(float(values_s.mean())),
        p50_ms=_ms(_pct(values_s, 0.5)),
        p90_ms=_ms(_pct(values_s, 0.9)),
        p99_ms=_ms(_pct(values_s, 0.99)),
        max_ms=_ms(float(values_s.max())),
    )


@dataclass(frozen=True, eq=False)
class Outcomes:
    """Per-request latencies in seconds (inf for rejected requests; TPOT NaN for single-token outputs)."""

    ttft: npt.NDArray[np.float64]
    tpot: npt.NDArray[np.float64]
    e2e: npt.NDArray[np.float64]
    queue: npt.NDArray[np.float64]
    rejected: npt.NDArray[np.bool_]

    def latencies(self, sel: npt.NDArray[np.int64]) -> Latencies:
        tp = self.tpot[sel]
        return Latencies(
            ttft=summarise(self.ttft[sel]),
            tpot=summarise(tp[~np.isnan(tp)]),
            e2e=summarise(self.e2e[sel]),
            queue=summarise(self.queue[sel]),
        )

    def within(self, sel: npt.NDArray[np.int64], slo: Slo) -> npt.NDArray[np.bool_]:
        """Requests meeting every target value (TTFT and, where defined, TPOT)."""
        tp = self.tpot[sel]
        ok_tpot = np.isnan(tp) | (tp <= slo.tpot_ms * 1e-3)
        return np.asarray((self.ttft[sel] <= slo.ttft_ms * 1e-3) & ok_tpot & ~self.rejected[sel])


def attainment(values_s: npt.NDArray[np.float64], metric: Literal["ttft", "tpot"], slo: Slo) -> TargetAttainment:
    """Whether the simulated requests meet one target, by the statistic it names."""
    stat = slo.ttft_statistic if metric == "ttft" else slo.tpot_statistic
    target_ms = slo.ttft_ms if metric == "ttft" else slo.tpot_ms
    if values_s.size == 0:
        return TargetAttainment(
            metric=metric, statistic=stat, target_ms=target_ms, achieved_ms=None, met=True, within_target_share=1.0
        )
    q = statistic_quantile(stat)
    achieved = float(values_s.mean()) if q is None else _pct(values_s, q)
    achieved_ms = _ms(achieved)
    return TargetAttainment(
        metric=metric,
        statistic=stat,
        target_ms=target_ms,
        achieved_ms=achieved_ms,
        met=achieved_ms is not None and achieved_ms <= target_ms * (1 + 1e-9),
        within_target_share=round(float(np.mean(values_s <= target_ms * 1e-3)), 6),
    )


def window_slice(window_s: float, warmup_s: float, duration_s: float) -> tuple[int, int]:
    """Timeline windows wholly inside the measured period [warmup, duration]."""
    i0 = math.ceil(warmup_s / window_s - 1e-9)
    i1 = max(i0 + 1, math.floor(duration_s / window_s + 1e-9))
    return i0, i1


def windows(values: list[float], i0: int, i1: int) -> float:
    return float(sum(values[i0:i1]))


def simulation_result(
    plan: Plan,
    inputs: PlanInputs,
    opts: SimulationOptions,
    req: Requests,
    groups: list[Group],
    flat: list[Server],
    table: RequestTable,
    group_of: npt.NDArray[np.int64],
    decode_of: npt.NDArray[np.int64],
    slice_of: npt.NDArray[np.int64],
    unplanned: npt.NDArray[np.bool_],
    lookups: dict[str, BucketLookup],
    labels: list[str],
    pairs: list[tuple[int, ModelSpec]],
    window_s: float,
    notes: list[str],
    elapsed_s: float,
) -> SimulationResult:
    arr = req.arrival_s
    first = np.asarray(table.first_s, dtype=float)
    done = np.asarray(table.done_s, dtype=float)
    sched = np.asarray(table.sched_s, dtype=float)
    rejected = np.asarray(table.rejected, dtype=bool)
    outs = req.output_len
    inf = np.inf
    ttft = np.where(rejected, inf, first - arr)
    e2e = np.where(rejected, inf, done - arr)
    queue = np.where(rejected, inf, sched - arr)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(outs >= 2, (done - first) / np.maximum(outs - 1, 1), np.nan)
    tpot = np.where(rejected & (outs >= 2), inf, tpot)
    res = Outcomes(ttft, tpot, e2e, queue, rejected)
    counted = arr >= opts.warmup_s
    measured_s = req.duration_s - opts.warmup_s
    preempt = np.asarray(table.preemptions, dtype=np.int64)

    models = []
    for mi, (_, ms) in enumerate(pairs):
        sel = np.flatnonzero(counted & (req.model == mi))
        tp = tpot[sel]
        targets = (attainment(ttft[sel], "ttft", ms.slo), attainment(tp[~np.isnan(tp)], "tpot", ms.slo))
        good = int(res.within(sel, ms.slo).sum())
        served = sel[~rejected[sel]]
        models.append(
            ModelSimulation(
                model=ms.label,
                requests=int(sel.size),
                rejected=int(rejected[sel].sum()),
                offered_rps=round(req.rates_rps[mi], 6),
                completed_rps=round(served.size / measured_s, 6),
                latencies=res.latencies(sel),
                slo=targets,
                slo_met=all(t.met for t in targets),
                goodput_rps=round(good / measured_s, 6),
                goodput_share=round(good / sel.size, 6) if sel.size else 1.0,
                output_tokens_per_s=round(float(outs[served].sum()) / measured_s, 3),
                preemptions=int(preempt[sel].sum()),
                unplanned_requests=int(unplanned[sel].sum()),
            )
        )

    i0, i1 = window_slice(window_s, opts.warmup_s, req.duration_s)
    span = (i1 - i0) * window_s
    out_groups = []
    slo_of = {ms.label: ms.slo for _, ms in pairs}
    for g in groups:
        # a decode pool reports the requests it decoded (they are counted in their prefill pool's group too)
        member = decode_of if g.role == "decode" else group_of
        sel = np.flatnonzero(counted & (member == g.index))
        g_tpot = tpot[sel]
        g_slo = slo_of[g.model]
        srv = g.servers
        busy = sum(windows(s.win_busy, i0, i1) for s in srv)
        kv = sum(windows(s.win_kv, i0, i1) for s in srv)
        peak = max((max(s.win_kv_peak, default=0.0) for s in srv), default=0.0)
        out_groups.append(
            GroupSimulation(
                candidate=g.candidate,
                model=g.model,
                offering=g.offering,
                gpu=g.gpu,
                engine=g.engine,
                replicas=g.replicas,
                requests=int(sel.size),
                latencies=res.latencies(sel),
                slo=(attainment(ttft[sel], "ttft", g_slo), attainment(g_tpot[~np.isnan(g_tpot)], "tpot", g_slo)),
                utilisation=round(busy / (g.replicas * span), 6),
                planned_utilisation=g.planned_utilisation,
                kv_occupancy_mean=round(kv / (g.replicas * span), 6),
                kv_occupancy_peak=round(peak, 6),
                running_peak=max((s.running_peak for s in srv), default=0),
                preemptions=sum(s.preempted for s in srv),
                timing_source=g.timing_source,
            )
        )

    buckets = []
    for mi, (_, ms) in enumerate(pairs):
        look = lookups.get(ms.label)
        if look is None:
            continue
        in_model = counted & (req.model == mi)
        for k, route in enumerate(look.routes):
            sel = np.flatnonzero(in_model & (slice_of == k))
            tp = tpot[sel]
            tp = tp[~np.isnan(tp)]
            buckets.append(
                BucketSimulation(
                    model=ms.label,
                    slice=route.slice,
                    input_len_range=route.input_len_range,
                    output_len_range=route.output_len_range,
                    requests=int(sel.size),
                    ttft_p50_ms=_ms(_pct(ttft[sel], 0.5)) if sel.size else None,
                    ttft_p99_ms=_ms(_pct(ttft[sel], 0.99)) if sel.size else None,
                    tpot_p50_ms=_ms(_pct(tp, 0.5)) if tp.size else None,
                    tpot_p99_ms=_ms(_pct(tp, 0.99)) if tp.size else None,
                    within_slo_share=round(float(res.within(sel, ms.slo).mean()), 6) if sel.size else 1.0,
                )
            )

    n_windows = max([len(s.win_busy) for s in flat] + [TIMELINE_WINDOWS])
    edges = np.arange(n_windows + 1, dtype=float) * window_s
    edges[-1] = max(edges[-1], float(np.nanmax(done)) + 1e-9 if done.size else 0.0)
    arrivals_h = np.histogram(arr, bins=edges)[0]
    finished = done[~rejected & ~np.isnan(done)]
    completions_h = np.histogram(finished, bins=edges)[0]
    n_srv = max(len(flat), 1)
    timeline = []
    for i in range(n_windows):
        busy_w = sum(s.win_busy[i] for s in flat if i < len(s.win_busy))
        kv_w = sum(s.win_kv[i] for s in flat if i < len(s.win_kv))
        peak_w = max((s.win_kv_peak[i] for s in flat if i < len(s.win_kv_peak)), default=0.0)
        timeline.append(
            TimelinePoint(
                start_s=round(i * window_s, 6),
                arrivals=int(arrivals_h[i]),
                completions=int(completions_h[i]),
                utilisation=round(busy_w / (n_srv * window_s), 6),
                kv_occupancy=round(kv_w / (n_srv * window_s), 6),
                kv_occupancy_peak=round(peak_w, 6),
            )
        )

    end = float(np.nanmax(done)) if done.size else 0.0
    sojourn = np.where(np.isnan(done), 0.0, done - arr)
    area = sum(s.area for s in flat)
    lam = req.count / end if end > 0 else 0.0
    w = float(sojourn.mean()) if sojourn.size else 0.0
    lw = lam * w
    littles = LittlesLaw(
        mean_in_system=round(area / end, 6) if end > 0 else 0.0,
        arrival_rate_rps=round(lam, 6),
        mean_sojourn_s=round(w, 6),
        relative_error=float(abs(area / end - lw) / lw) if end > 0 and lw > 0 else 0.0,
    )
    policies = sorted({g.policy.describe for g in groups if g.policy is not None})
    if any(g.offload for g in groups):
        policies.append("offload: FlexGen-style blocks (placement LP), whole block finishes together")
    settings = SimulationSettings(
        arrivals=req.processes,
        burstiness_cv=opts.burstiness_cv,
        rate_factor=round(req.rate_factor, 9),
        recorded_pace=opts.rate == "trace",
        duration_s=round(req.duration_s, 6),
        warmup_s=opts.warmup_s,
        seed=opts.seed,
        routing=opts.routing,
        preemption=opts.preemption,
        prefix_cache_hit=opts.prefix_cache_hit,
        requests_simulated=req.count,
        scheduler=tuple(policies),
    )
    for mi, label in enumerate(labels):
        if req.processes[mi] == "trace" and req.pace[mi] != 1.0:
            notes.append(
                f"{label}: trace timestamps replayed {req.pace[mi]:.3g}x as fast as recorded "
                f"({f'{req.rates_rps[mi]:.4g}'} req/s)"
            )
    unplanned_total = int(unplanned.sum())
    if unplanned_total and opts.routing == "plan":
        notes.append(f"{unplanned_total} requests fell outside every planned bucket and went to the nearest one")
    return SimulationResult(
        name=plan.name,
        plan_cost_usd_per_hour=plan.total_cost_usd_per_hour,
        settings=settings,
        slo_met=all(m.slo_met for m in models),
        models=tuple(models),
        groups=tuple(out_groups),
        buckets=tuple(buckets),
        timeline=tuple(timeline),
        window_s=round(window_s, 6),
        littles_law=littles,
        notes=tuple(notes),
        elapsed_s=round(elapsed_s, 4),
    )
