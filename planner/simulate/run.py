"""Replay a plan request by request: arrivals, routing, every replica's engine, and the statistics.

`simulate_plan(plan, inputs, options)` is a pure function of the plan, the spec and catalog it was made
from, and the options (the seed makes it deterministic). Routers:

- ``plan``: the plan's routing shares per length bucket (a weighted random choice of candidate per
  request), then round-robin over that candidate's replicas;
- ``round-robin``: over every replica of the request's model, ignoring buckets;
- ``least-loaded``: the replica of the model with the fewest requests in the system at the arrival
  (ties: the first in plan order). Replicas are then simulated in lock-step with the arrivals.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from catalog.loader import resolve_model
from planner.candidates import ep_deployment
from planner.capacity.offloaded import offload_placement
from planner.errors import InputError
from planner.inputs import PlanInputs
from planner.perf import Deployment, engine_profile
from planner.result import Plan, ReplicaGroup, SliceRoute
from planner.simulate.arrivals import ArrivalProcess, ModelTraffic, Requests, generate
from planner.simulate.engine import Preemption, Replica, RequestTable, SchedulerPolicy, scheduler_policy
from planner.simulate.offload import BlockTimes, OffloadServer
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
from planner.simulate.timing import IterationTimes, engine_limits
from planner.spec import ModelSpec, Slo, statistic_quantile

Routing = Literal["plan", "least-loaded", "round-robin"]
ROUTINGS: tuple[Routing, ...] = ("plan", "least-loaded", "round-robin")
TIMELINE_WINDOWS = 50
IntArray = npt.NDArray[np.int64]
ROUTING_STREAM = 7919  # the routing RNG is seeded (seed, ROUTING_STREAM); arrivals use (seed, model index)


@dataclass(frozen=True)
class SimulationOptions:
    arrivals: ArrivalProcess = "auto"
    burstiness_cv: float | None = None
    rate_factor: float = 1.0
    rate: str | float | None = None  # total req/s over all models, or "trace": each trace at its recorded pace
    duration_s: float | None = None
    warmup_s: float = 0.0
    seed: int = 0
    routing: Routing = "plan"
    preemption: Literal["engine", "recompute", "swap"] = "engine"
    prefix_cache_hit: float = 0.0

    def total_rate_rps(self) -> float | None:
        """The --rate value as req/s (None when absent or 'trace')."""
        if self.rate is None or self.rate == "trace":
            return None
        try:
            value = float(self.rate)
        except ValueError:
            raise InputError(f"must be a rate in req/s or 'trace', got {self.rate!r}", where="--rate") from None
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"must be a positive rate in req/s or 'trace', got {self.rate!r}", where="--rate")
        return value

    def check(self) -> None:
        """Flag values a user typed: each problem names its flag."""
        if self.burstiness_cv is not None and not (math.isfinite(self.burstiness_cv) and self.burstiness_cv > 0):
            raise InputError(f"must be a positive number (1 = Poisson), got {self.burstiness_cv}", where="--burstiness")
        if not (math.isfinite(self.rate_factor) and self.rate_factor > 0):
            raise InputError(f"must be a positive number, got {self.rate_factor}", where="--rate-factor")
        if self.rate is not None:
            self.total_rate_rps()
            if self.rate_factor != 1.0:
                raise InputError("give --rate or --rate-factor, not both", where="--rate")
        if self.duration_s is not None and not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise InputError(f"must be a positive number of seconds, got {self.duration_s}", where="--duration")
        if not (math.isfinite(self.warmup_s) and self.warmup_s >= 0):
            raise InputError(f"must be a number of seconds >= 0, got {self.warmup_s}", where="--warmup")
        if self.duration_s is not None and self.warmup_s >= self.duration_s:
            raise InputError(
                f"the warm-up ({self.warmup_s:g} s) must be shorter than the duration ({self.duration_s:g} s)",
                where="--warmup",
            )
        if not (0.0 <= self.prefix_cache_hit < 1.0):
            raise InputError(f"must be a share in [0, 1), got {self.prefix_cache_hit}", where="--prefix-cache-hit")
        if self.routing not in ROUTINGS:
            raise InputError(f"unknown routing {self.routing!r}; valid: {', '.join(ROUTINGS)}", where="--routing")
        if not (0 <= self.seed < 2**63):
            raise InputError(f"must be an integer >= 0, got {self.seed}", where="--seed")


class Server(Protocol):
    """What the simulation needs of a replica (an engine or an offloaded block server)."""

    busy_s: float
    area: float
    completed: int
    preempted: int
    running_peak: int
    win_busy: list[float]
    win_kv: list[float]
    win_kv_peak: list[float]

    def add(self, rid: int) -> None: ...

    def run_until(self, t_stop: float = math.inf) -> None: ...

    @property
    def in_system(self) -> int: ...


@dataclass
class Group:
    """The replicas of one plan candidate."""

    index: int
    candidate: str
    model: str
    model_index: int
    offering: str
    gpu: str
    engine: str
    replicas: int
    planned_utilisation: float
    deployment: Deployment | None
    offload: bool
    timing_source: str
    policy: SchedulerPolicy | None = None
    servers: list[Server] = field(default_factory=list)


def _model_specs(plan: Plan, spec_models: Sequence[ModelSpec]) -> list[tuple[int, ModelSpec]]:
    by_label = {m.label: (i, m) for i, m in enumerate(spec_models)}
    out = []
    for ms in plan.models:
        if ms.model not in by_label:
            raise InputError(
                f"the plan's model {ms.model!r} is not in the spec; pass the spec the plan was made from",
                where="--spec",
            )
        out.append(by_label[ms.model])
    return out


def replay_refusal(rg: ReplicaGroup) -> str | None:
    """Why the simulator cannot replay this replica group (None: it can). Tensor-parallel replicas of one
    instance and expert-parallel replicas (tp = ep GPUs with attention data-parallel, on one instance or
    several: the deployment their candidate was estimated with, one scheduler over the pooled KV cache) are
    replayed. Pools of disaggregated serving and pipeline stages have only the estimator's serving models;
    replaying them as single replicas would report latencies they do not have."""
    expert_parallel = rg.ep > 1 and rg.tp == rg.ep
    if rg.role == "aggregated" and rg.pp == 1 and (expert_parallel or (rg.nodes == 1 and rg.ep == 1)):
        return None
    what = (
        f"a {rg.role} pool of disaggregated serving"
        if rg.role != "aggregated"
        else f"a replica of shape tp{rg.tp} pp{rg.pp} ep{rg.ep} on {rg.nodes} instance(s)"
    )
    return (
        f"replica group {rg.candidate} is {what}; simulate replays tensor- and expert-parallel replicas only "
        "(pipeline and disaggregated serving are planned with the estimator's serving models, not simulated yet)"
    )


def _groups(plan: Plan, inputs: PlanInputs, model_index: dict[str, int]) -> list[Group]:
    spec, catalog = inputs.spec, inputs.catalog
    groups: list[Group] = []
    archs = {}
    for a in plan.allocations:
        gpu = catalog.gpus.get(a.gpu)
        if gpu is None:
            raise InputError(f"the plan's GPU {a.gpu!r} is not in the catalog", where="--catalog")
        for rg in a.replicas:
            i = next((j for j, m in enumerate(spec.models) if m.label == rg.model), None)
            if i is None:
                raise InputError(f"the plan's model {rg.model!r} is not in the spec", where="--spec")
            if i not in archs:
                archs[i] = resolve_model(
                    catalog, spec.models[i].model, where=f"models[{i}].model", base_dir=inputs.base_dir
                )
            refused = replay_refusal(rg)
            if refused is not None:
                raise InputError(refused, where="PLAN.json")
            expert_parallel = rg.ep > 1
            offload = rg.engine == "offload"
            dep = None
            source = "estimate"
            if not offload:
                weights, kv = rg.weights, rg.kv
                if rg.capacity_source == "measured" or weights == "measured":
                    weights, kv = spec.search.weights[0], spec.search.kv[0]
                    source = "estimate (the plan used a measured capacity)"
                if expert_parallel:
                    # experts over ep GPUs, attention data-parallel, over the instances' network: the
                    # deployment the plan's candidate was estimated with (one scheduler, one pooled KV cache)
                    offering = catalog.offerings.get(a.offering)
                    if offering is None:
                        raise InputError(f"the plan's offering {a.offering!r} is not in the catalog", where="--catalog")
                    dep = ep_deployment(catalog, archs[i], offering, gpu, spec.search, rg.ep, weights, kv)
                else:
                    dep = Deployment(
                        archs[i],
                        gpu,
                        rg.tp,
                        weights,
                        kv,
                        engine_profile(catalog, spec.search.engine, gpu),
                        spec.search.gpu_memory_utilization,
                    )
            else:
                source = "offload placement"
            groups.append(
                Group(
                    index=len(groups),
                    candidate=rg.candidate,
                    model=rg.model,
                    model_index=model_index[rg.model],
                    offering=a.offering,
                    gpu=a.gpu,
                    engine=rg.engine,
                    replicas=rg.replicas,
                    planned_utilisation=rg.utilisation,
                    deployment=dep,
                    offload=offload,
                    timing_source=source,
                )
            )
    return groups


# ---------------------------------------------------------------------------------------------- routing


@dataclass(frozen=True, eq=False)
class BucketLookup:
    """Which planned slice of one model a (input, output) length pair falls in."""

    routes: tuple[SliceRoute, ...]
    in_lo: npt.NDArray[np.int64]
    in_hi: npt.NDArray[np.int64]
    out_lo: npt.NDArray[np.int64]
    out_hi: npt.NDArray[np.int64]
    cell: dict[tuple[int, int], int]

    @classmethod
    def build(cls, routes: Sequence[SliceRoute]) -> BucketLookup:
        ins = sorted({s.input_len_range for s in routes})
        outs = sorted({s.output_len_range for s in routes})
        cell = {(ins.index(s.input_len_range), outs.index(s.output_len_range)): k for k, s in enumerate(routes)}
        return cls(
            tuple(routes),
            np.asarray([r[0] for r in ins], dtype=np.int64),
            np.asarray([r[1] for r in ins], dtype=np.int64),
            np.asarray([r[0] for r in outs], dtype=np.int64),
            np.asarray([r[1] for r in outs], dtype=np.int64),
            cell,
        )

    def find(
        self, ins: npt.NDArray[np.int64], outs: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """(slice index per request, whether it was outside every bucket and sent to the nearest one)."""
        n = ins.shape[0]
        j = np.minimum(np.searchsorted(self.in_hi, ins, side="left"), len(self.in_hi) - 1)
        k = np.minimum(np.searchsorted(self.out_hi, outs, side="left"), len(self.out_hi) - 1)
        ok_j = (self.in_lo[j] <= ins) & (ins <= self.in_hi[j])
        ok_k = (self.out_lo[k] <= outs) & (outs <= self.out_hi[k])
        out = np.full(n, -1, dtype=np.int64)
        miss = np.zeros(n, dtype=bool)
        for idx in range(n):
            key = (int(j[idx]), int(k[idx]))
            s = self.cell.get(key, -1) if ok_j[idx] and ok_k[idx] else -1
            if s < 0:
                s = self._nearest(int(ins[idx]), int(outs[idx]))
                miss[idx] = True
            out[idx] = s
        return out, miss

    def _nearest(self, i: int, o: int) -> int:
        """The tightest bucket whose upper edges cover the request, else the largest one."""
        cover = [
            (s.input_len_range[1], s.output_len_range[1], k)
            for k, s in enumerate(self.routes)
            if s.input_len_range[1] >= i and s.output_len_range[1] >= o
        ]
        if cover:
            return min(cover)[2]
        return max((s.input_len_range[1], s.output_len_range[1], k) for k, s in enumerate(self.routes))[2]


def _route_plan(
    req: Requests,
    plan: Plan,
    groups: list[Group],
    models: list[str],
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray, IntArray, npt.NDArray[np.bool_], dict[str, BucketLookup]]:
    """(group, replica within group, slice, unplanned) per request under the plan's routing shares."""
    n = req.count
    group = np.full(n, -1, dtype=np.int64)
    slice_ = np.full(n, -1, dtype=np.int64)
    unplanned = np.zeros(n, dtype=bool)
    by_candidate = {g.candidate: g.index for g in groups}
    lookups: dict[str, BucketLookup] = {}
    u = rng.random(n)
    for mi, label in enumerate(models):
        routes = [s for s in plan.routing if s.model == label]
        if not routes:
            continue
        look = BucketLookup.build(routes)
        lookups[label] = look
        sel = np.flatnonzero(req.model == mi)
        if sel.size == 0:
            continue
        s_idx, miss = look.find(req.input_len[sel], req.output_len[sel])
        slice_[sel] = s_idx
        unplanned[sel] = miss
        for k, route in enumerate(look.routes):
            members = sel[s_idx == k]
            if members.size == 0:
                continue
            targets = [(by_candidate[r.candidate], r.share) for r in route.routes if r.candidate in by_candidate]
            if not targets:
                continue
            shares = np.asarray([s for _, s in targets], dtype=float)
            cum = np.cumsum(shares / shares.sum())
            pick = np.minimum(np.searchsorted(cum, u[members], side="right"), len(targets) - 1)
            group[members] = np.asarray([g for g, _ in targets], dtype=np.int64)[pick]
    replica = np.zeros(n, dtype=np.int64)
    for g in groups:
        members = np.flatnonzero(group == g.index)
        replica[members] = np.arange(members.size, dtype=np.int64) % g.replicas
    return group, replica, slice_, unplanned, lookups


# ---------------------------------------------------------------------------------------------- statistics


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


# ---------------------------------------------------------------------------------------------- the run


def _block_times(
    group: Group, inputs: PlanInputs, look: BucketLookup, ms: ModelSpec, arch_model: str
) -> dict[int, BlockTimes]:
    """Block times of an offloaded group per planned bucket (slice index), from the placement search the
    planner priced it with; a bucket it cannot serve is missing."""
    try:
        import solvers.placement  # noqa: F401, PLC0415 - needs highspy, an optional dependency here
    except ImportError as exc:
        raise InputError(f"simulating offloaded replicas needs the placement solver ({exc})") from None
    catalog = inputs.catalog
    offering = catalog.offerings[group.offering.removesuffix("#spot")]
    gpu = catalog.gpus[group.gpu]
    arch = resolve_model(catalog, arch_model, where="models", base_dir=inputs.base_dir)
    out: dict[int, BlockTimes] = {}
    for k, s in enumerate(look.routes):
        res = offload_placement(arch, gpu, offering, inputs.spec.search, ms.slo, s.input_len, s.output_len)
        if res is not None:
            out[k] = BlockTimes(res.policy.block_size, res.cost.prefill_s, res.cost.decode_s)
    return out


def _check_plan(plan: Plan, inputs: PlanInputs) -> None:
    if plan.status == "infeasible":
        raise InputError("the plan is infeasible: there is no fleet to simulate", where="PLAN.json")
    if not plan.allocations:
        raise InputError("the plan rents nothing: there is no fleet to simulate", where="PLAN.json")
    if plan.spec_sha256 != inputs.spec_sha256:
        raise InputError(
            f"is not the spec this plan was made from (its SHA-256 starts {inputs.spec_sha256[:12]}, the plan's "
            f"{plan.spec_sha256[:12]}); pass the plan's own spec",
            where="--spec",
        )


def simulate_plan(plan: Plan, inputs: PlanInputs, options: SimulationOptions | None = None) -> SimulationResult:
    """Simulate every replica of `plan` under the arrivals and routing of `options` (module doc)."""
    opts = options or SimulationOptions()
    opts.check()
    _check_plan(plan, inputs)
    started = time.perf_counter()
    spec = inputs.spec
    pairs = _model_specs(plan, spec.models)
    labels = [m.label for _, m in pairs]
    model_index = {label: i for i, label in enumerate(labels)}
    planned_rate = {x.model: x.rate_rps for x in plan.models}
    traffic = tuple(ModelTraffic(m.label, planned_rate[m.label], m.workload, f"models[{i}].workload") for i, m in pairs)
    req = generate(
        traffic,
        inputs.base_dir,
        process=opts.arrivals,
        burstiness_cv=opts.burstiness_cv,
        rate_factor=opts.rate_factor,
        total_rate_rps=opts.total_rate_rps(),
        recorded_pace=opts.rate == "trace",
        duration_s=opts.duration_s,
        seed=opts.seed,
    )
    if opts.warmup_s >= req.duration_s:
        raise InputError(
            f"the warm-up ({opts.warmup_s:g} s) must be shorter than the duration ({req.duration_s:g} s)",
            where="--warmup",
        )
    groups = _groups(plan, inputs, model_index)
    window_s = req.duration_s / TIMELINE_WINDOWS
    table = RequestTable(req.arrival_s.tolist(), req.input_len.tolist(), req.output_len.tolist())
    rng = np.random.default_rng([opts.seed, ROUTING_STREAM])
    group_of, replica_of, slice_of, unplanned, lookups = _route_plan(req, plan, groups, labels, rng)
    for label in labels:
        if label not in lookups:
            lookups[label] = BucketLookup.build([s for s in plan.routing if s.model == label] or [])
    notes: list[str] = []
    _build_servers(groups, inputs, pairs, lookups, req, table, opts, window_s, slice_of, notes)
    flat: list[Server] = [srv for g in groups for srv in g.servers]
    offsets = np.cumsum([0] + [g.replicas for g in groups])
    if opts.routing == "plan":
        server_of = offsets[np.maximum(group_of, 0)] + replica_of
        server_of[group_of < 0] = -1
        for rid, sv in enumerate(server_of.tolist()):
            if sv >= 0:
                flat[sv].add(rid)
            else:
                table.rejected[rid] = True
                table.done_s[rid] = table.arrival_s[rid]
        for srv in flat:
            srv.run_until()
    else:
        server_of = _route_dynamic(req, groups, flat, offsets, opts.routing, table)
        group_of = np.searchsorted(offsets, server_of, side="right") - 1
    elapsed = time.perf_counter() - started
    return _result(
        plan,
        inputs,
        opts,
        req,
        groups,
        flat,
        table,
        group_of,
        slice_of,
        unplanned,
        lookups,
        labels,
        pairs,
        window_s,
        notes,
        elapsed,
    )


def _build_servers(
    groups: list[Group],
    inputs: PlanInputs,
    pairs: list[tuple[int, ModelSpec]],
    lookups: dict[str, BucketLookup],
    req: Requests,
    table: RequestTable,
    opts: SimulationOptions,
    window_s: float,
    slice_of: npt.NDArray[np.int64],
    notes: list[str],
) -> None:
    max_ctx = int((req.input_len + req.output_len).max()) if req.count else 1
    spec_of = {m.label: m for _, m in pairs}
    model_ref = {m.label: m.model for _, m in pairs}
    timing: dict[tuple[object, ...], IterationTimes] = {}
    for g in groups:
        if g.offload:
            look = lookups[g.model]
            blocks = _block_times(g, inputs, look, spec_of[g.model], model_ref[g.model])
            block_of = {rid: blocks[int(slice_of[rid])] for rid in range(req.count) if int(slice_of[rid]) in blocks}
            g.servers = [OffloadServer(table, block_of, window_s) for _ in range(g.replicas)]
            continue
        dep = g.deployment
        assert dep is not None
        key = (dep.gpu.id, dep.tp, dep.weights, dep.kv, dep.model.id, dep.engine.engine)
        times = timing.get(key)
        if times is None:
            times = IterationTimes(dep, max_ctx)
            sel = req.model == g.model_index
            times.prime(req.input_len[sel])
            timing[key] = times
        limits = engine_limits(dep)
        pre: Preemption | None = None if opts.preemption == "engine" else opts.preemption
        g.policy = scheduler_policy(g.engine, limits, pre)
        g.servers = [
            Replica(
                table,
                times,
                limits,
                g.policy,
                prefix_hit_share=opts.prefix_cache_hit,
                window_s=window_s,
                max_position=dep.context_window,
            )
            for _ in range(g.replicas)
        ]
        if g.timing_source != "estimate":
            notes.append(f"{g.candidate}: {g.timing_source}")


def _route_dynamic(
    req: Requests,
    groups: list[Group],
    flat: list[Server],
    offsets: npt.NDArray[np.int64],
    routing: Routing,
    table: RequestTable,
) -> npt.NDArray[np.int64]:
    """Round-robin or least-loaded over the replicas of each request's model (module doc)."""
    per_model: dict[int, list[int]] = {}
    for g in groups:
        per_model.setdefault(g.model_index, []).extend(range(int(offsets[g.index]), int(offsets[g.index + 1])))
    server_of = np.full(req.count, -1, dtype=np.int64)
    counters = dict.fromkeys(per_model, 0)
    arrival = table.arrival_s
    for rid, mi in enumerate(req.model.tolist()):
        candidates = per_model.get(mi)
        if not candidates:
            table.rejected[rid] = True
            table.done_s[rid] = arrival[rid]
            continue
        if routing == "round-robin":
            sv = candidates[counters[mi] % len(candidates)]
            counters[mi] += 1
        else:
            t = arrival[rid]
            best = -1
            load = 0
            for c in candidates:
                flat[c].run_until(t)
                n = flat[c].in_system
                if best < 0 or n < load:
                    best, load = c, n
            sv = best
        flat[sv].add(rid)
        server_of[rid] = sv
    for srv in flat:
        srv.run_until()
    return server_of


def _window_slice(window_s: float, warmup_s: float, duration_s: float) -> tuple[int, int]:
    """Timeline windows wholly inside the measured period [warmup, duration]."""
    i0 = math.ceil(warmup_s / window_s - 1e-9)
    i1 = max(i0 + 1, math.floor(duration_s / window_s + 1e-9))
    return i0, i1


def _windows(values: list[float], i0: int, i1: int) -> float:
    return float(sum(values[i0:i1]))


def _result(
    plan: Plan,
    inputs: PlanInputs,
    opts: SimulationOptions,
    req: Requests,
    groups: list[Group],
    flat: list[Server],
    table: RequestTable,
    group_of: npt.NDArray[np.int64],
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

    i0, i1 = _window_slice(window_s, opts.warmup_s, req.duration_s)
    span = (i1 - i0) * window_s
    out_groups = []
    slo_of = {ms.label: ms.slo for _, ms in pairs}
    for g in groups:
        sel = np.flatnonzero(counted & (group_of == g.index))
        g_tpot = tpot[sel]
        g_slo = slo_of[g.model]
        srv = g.servers
        busy = sum(_windows(s.win_busy, i0, i1) for s in srv)
        kv = sum(_windows(s.win_kv, i0, i1) for s in srv)
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
