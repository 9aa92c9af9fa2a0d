"""Replay given requests on one replica (no plan, no router): the building block of tests and of the
percentile capacity search."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.perf import Deployment
from planner.simulate.engine import Replica
from planner.simulate.policy import Preemption, scheduler_policy
from planner.simulate.server import RequestTable
from planner.simulate.timing import EngineLimits, IterationTimes, engine_limits


@dataclass(frozen=True, eq=False)
class ReplayResult:
    """Per-request latencies (seconds; inf for rejected requests, TPOT NaN for one-token outputs) and the
    replica's counters."""

    ttft_s: npt.NDArray[np.float64]
    tpot_s: npt.NDArray[np.float64]
    e2e_s: npt.NDArray[np.float64]
    queue_s: npt.NDArray[np.float64]
    rejected: npt.NDArray[np.bool_]
    preemptions: int
    running_peak: int
    kv_peak_blocks: int
    total_blocks: int
    busy_s: float
    area: float  # integral of requests in the system over time
    end_s: float


def replay(
    dep: Deployment,
    arrival_s: npt.ArrayLike,
    input_len: npt.ArrayLike,
    output_len: npt.ArrayLike,
    *,
    engine: str | None = None,
    preemption: Preemption | None = None,
    prefix_hit_share: float = 0.0,
    times: IterationTimes | None = None,
    concurrency: int | None = None,
    limits: EngineLimits | None = None,
) -> ReplayResult:
    """Run `dep` (one replica) on requests given in arrival order, or, with `concurrency`, closed loop:
    that many clients each send the next request (in order) when their previous one finishes (the
    arrival times given are then ignored). `times` and `limits` default to `dep`'s as one tensor-parallel
    replica (a pipeline replica passes its own)."""
    arr = np.asarray(arrival_s, dtype=float)
    ins = np.asarray(input_len, dtype=np.int64)
    outs = np.asarray(output_len, dtype=np.int64)
    limits = limits or engine_limits(dep)
    policy = scheduler_policy(engine or dep.engine.engine, limits, preemption)
    if times is None:
        times = IterationTimes(dep, int((ins + outs).max()) if ins.size else 1)
        times.prime(ins)
    table = RequestTable(arr.tolist(), ins.tolist(), outs.tolist())
    rep = Replica(
        table,
        times,
        limits,
        policy,
        prefix_hit_share=prefix_hit_share,
        window_s=1e12,  # one timeline window: replay reports no timeline
        max_position=dep.context_window,
    )
    if concurrency is None:
        for rid in range(arr.size):
            rep.add(rid)
    else:  # closed loop: `concurrency` clients, each sends its next request when the last one finishes
        nxt = min(concurrency, arr.size)
        for rid in range(nxt):
            table.arrival_s[rid] = 0.0
            rep.add(rid)

        def next_request(_rid: int, t: float) -> None:
            nonlocal nxt
            if nxt < arr.size:
                table.arrival_s[nxt] = t
                rep.add(nxt)
                nxt += 1

        rep.on_done = next_request
    rep.run_until(math.inf)
    arr = np.asarray(table.arrival_s, dtype=float)
    first = np.asarray(table.first_s, dtype=float)
    done = np.asarray(table.done_s, dtype=float)
    sched = np.asarray(table.sched_s, dtype=float)
    rej = np.asarray(table.rejected, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(outs >= 2, (done - first) / np.maximum(outs - 1, 1), np.nan)
    return ReplayResult(
        ttft_s=np.where(rej, np.inf, first - arr),
        tpot_s=np.where(rej & (outs >= 2), np.inf, tpot),
        e2e_s=np.where(rej, np.inf, done - arr),
        queue_s=np.where(rej, np.inf, sched - arr),
        rejected=rej,
        preemptions=rep.preempted,
        running_peak=rep.running_peak,
        kv_peak_blocks=rep.kv_peak_blocks,
        total_blocks=rep.total_blocks,
        busy_s=rep.busy_s,
        area=rep.area,
        end_s=float(np.nanmax(done)) if done.size else 0.0,
    )
