"""Replay a plan request by request: arrivals, routing, every replica's engine, and the statistics.

`simulate_plan(plan, inputs, options)` is a pure function of the plan, the spec and catalog it was made
from, and the options (the seed makes it deterministic). Routers:

- ``plan``: the plan's routing shares per length bucket (a weighted random choice of candidate per
  request), then round-robin over that candidate's replicas;
- ``round-robin``: over every replica of the request's model, ignoring buckets;
- ``least-loaded``: the replica of the model with the fewest requests in the system at the arrival
  (ties: the first in plan order). Replicas are then simulated in lock-step with the arrivals.

A plan with prefill/decode pools runs its prefill replicas first, then sends each paired request's KV
cache to its decode pool and runs those (planner.simulate.pools); its requests take the plan's routing
only, since a dynamic router picks one replica, not a pair.

The options are in planner.simulate.options, the routers in planner.simulate.routing, and the statistics
of the result in planner.simulate.stats; this module builds the fleet and runs it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from catalog.loader import resolve_model
from planner.candidates import ep_deployment
from planner.capacity.offloaded import offload_placement
from planner.errors import ArgumentError, InputError
from planner.inputs import PlanInputs
from planner.perf import Deployment, engine_profile
from planner.perf.network import replica_link
from planner.perf.pipeline import pipeline
from planner.result import Plan, ReplicaGroup
from planner.simulate.arrivals import ModelTraffic, Requests, generate
from planner.simulate.engine import Replica
from planner.simulate.offload import BlockTimes, OffloadServer
from planner.simulate.options import SimulationOptions as SimulationOptions  # re-exported for callers
from planner.simulate.policy import Preemption, scheduler_policy
from planner.simulate.pools import pool_link, pool_tables, run_decode_phase
from planner.simulate.result import SimulationResult
from planner.simulate.routing import BucketLookup, Group, Server, route_dynamic, route_plan
from planner.simulate.server import RequestTable
from planner.simulate.stats import TIMELINE_WINDOWS, simulation_result
from planner.simulate.timing import IterationTimes, PipelineIterationTimes, engine_limits, pipeline_engine_limits
from planner.spec import ModelSpec

MAX_REPLICAS = 100_000
"""Replicas one simulation may hold (each an engine with its own queues, a few KB); a plan with more, which
only a hand-edited one has, is an input error rather than minutes of setup and gigabytes of memory."""
ROUTING_STREAM = 7919  # the routing RNG is seeded (seed, ROUTING_STREAM); arrivals use (seed, model index)


def _model_specs(plan: Plan, spec_models: Sequence[ModelSpec]) -> list[tuple[int, ModelSpec]]:
    by_label = {m.label: (i, m) for i, m in enumerate(spec_models)}
    out = []
    for ms in plan.models:
        if ms.model not in by_label:
            raise ArgumentError(
                "spec", f"the plan's model {ms.model!r} is not in the spec; pass the spec the plan was made from"
            )
        out.append(by_label[ms.model])
    return out


def replay_refusal(rg: ReplicaGroup) -> str | None:
    """Why the simulator cannot replay this replica group (None: it can). Replayed: tensor-parallel replicas
    of one instance; expert-parallel replicas (tp = ep GPUs with attention data-parallel, on one instance or
    several: the deployment their candidate was estimated with, one scheduler over the pooled KV cache);
    pipeline replicas (tp GPUs of one instance per stage, pp stages on pp instances: the estimator's pipeline
    model); and any of these as prefill or decode pools of disaggregated serving (prefill-only and
    decode-only engines joined by the KV transfer: planner.simulate.pools; a pipeline pool's iterations are
    its pipeline's, its KV path every stage's GPUs sending their shards)."""
    expert_parallel = rg.ep > 1 and rg.tp == rg.ep and rg.pp == 1
    pipelined = rg.pp > 1 and rg.ep == 1 and rg.nodes == rg.pp
    plain = rg.pp == 1 and rg.ep == 1 and rg.nodes == 1
    if expert_parallel or pipelined or plain:
        return None
    what = f"a {rg.role} pool" if rg.role != "aggregated" else "a replica"
    return (
        f"replica group {rg.candidate} is {what} of shape tp{rg.tp} pp{rg.pp} ep{rg.ep} on {rg.nodes} instance(s); "
        "simulate replays tensor-parallel replicas, expert-parallel replicas (tp = ep) and pipeline replicas of "
        "one instance per stage (each also as a prefill or decode pool) only"
    )


def _groups(plan: Plan, inputs: PlanInputs, model_index: dict[str, int]) -> list[Group]:
    spec, catalog = inputs.spec, inputs.catalog
    groups: list[Group] = []
    archs = {}
    for a in plan.allocations:
        gpu = catalog.gpus.get(a.gpu)
        if gpu is None:
            raise ArgumentError("catalog", f"the plan's GPU {a.gpu!r} is not in the catalog")
        for rg in a.replicas:
            i = next((j for j, m in enumerate(spec.models) if m.label == rg.model), None)
            if i is None:
                raise ArgumentError("spec", f"the plan's model {rg.model!r} is not in the spec")
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
            pl = None
            link = None
            source = "estimate"
            if not offload:
                weights, kv = rg.weights, rg.kv
                if rg.capacity_source == "measured" or weights == "measured":
                    weights, kv = spec.search.weights[0], spec.search.kv[0]
                    source = "estimate (the plan used a measured capacity)"
                offering = catalog.offerings.get(a.offering.removesuffix("#spot"))
                if offering is None:
                    raise ArgumentError("catalog", f"the plan's offering {a.offering!r} is not in the catalog")
                if expert_parallel:
                    # experts over ep GPUs, attention data-parallel, over the instances' network: the
                    # deployment the plan's candidate was estimated with (one scheduler, one pooled KV cache)
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
                if rg.pp > 1:
                    # tp GPUs of one instance per stage, the stages joined by the instances' network: the
                    # pipeline the plan's candidate was estimated with (planner.candidates)
                    net = catalog.network(offering)
                    if net is None:
                        raise ArgumentError(
                            "catalog",
                            f"the plan's pipeline replica {rg.candidate} needs the network of {a.offering}, which "
                            "the catalog does not have",
                        )
                    g = offering.gpus_per_instance
                    pl = pipeline(dep, rg.pp, replica_link(net, g, g))
                if rg.role != "aggregated":
                    link = pool_link(catalog, a.offering, rg, dep.dp_attention)
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
                    pipeline=pl,
                    role=rg.role,
                    kv_link=link,
                    offload=offload,
                    timing_source=source,
                )
            )
    return groups


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
    replicas = sum(g.replicas for a in plan.allocations for g in a.replicas)
    if replicas > MAX_REPLICAS:
        raise InputError(
            f"the plan has {replicas:,} replicas; a simulation replays at most {MAX_REPLICAS:,}", where="PLAN.json"
        )
    if plan.spec_sha256 != inputs.spec_sha256:
        raise ArgumentError(
            "spec",
            f"is not the spec this plan was made from (its SHA-256 starts {inputs.spec_sha256[:12]}, the plan's "
            f"{plan.spec_sha256[:12]}); pass the plan's own spec",
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
        raise ArgumentError(
            "warmup_s", f"the warm-up ({opts.warmup_s:g} s) must be shorter than the duration ({req.duration_s:g} s)"
        )
    groups = _groups(plan, inputs, model_index)
    disaggregated = any(g.role != "aggregated" for g in groups)
    if disaggregated and opts.routing != "plan":
        raise ArgumentError(
            "routing",
            f"routing {opts.routing!r} picks one replica per request; this plan has prefill/decode pools, whose "
            "requests go through a pair of replicas: use {routing} plan",
            ("routing",),
        )
    window_s = req.duration_s / TIMELINE_WINDOWS
    table = RequestTable(req.arrival_s.tolist(), req.input_len.tolist(), req.output_len.tolist())
    prefill_table, decode_table = pool_tables(table)
    tables = {"aggregated": table, "prefill": prefill_table, "decode": decode_table}
    rng = np.random.default_rng([opts.seed, ROUTING_STREAM])
    group_of, replica_of, slice_of, unplanned, lookups, decode_of = route_plan(req, plan, groups, labels, rng)
    for label in labels:
        if label not in lookups:
            lookups[label] = BucketLookup.build([s for s in plan.routing if s.model == label] or [])
    notes: list[str] = []
    _build_servers(groups, inputs, pairs, lookups, req, tables, opts, window_s, slice_of, notes)
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
        for g in groups:
            if g.role != "decode":
                for srv in g.servers:
                    srv.run_until()
        if disaggregated:
            model_of = {g.model: g.deployment.model for g in groups if g.deployment is not None}
            run_decode_phase(groups, model_of, table, prefill_table, decode_table, group_of, decode_of)
    else:
        server_of = route_dynamic(req, groups, flat, offsets, opts.routing, table)
        group_of = np.searchsorted(offsets, server_of, side="right") - 1
    elapsed = time.perf_counter() - started
    return simulation_result(
        plan,
        inputs,
        opts,
        req,
        groups,
        flat,
        table,
        group_of,
        decode_of,
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
    tables: dict[str, RequestTable],
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
            g.servers = [OffloadServer(tables["aggregated"], block_of, window_s) for _ in range(g.replicas)]
            continue
        dep = g.deployment
        assert dep is not None
        pl = g.pipeline
        staged = pl is not None and g.role == "prefill"  # a pipeline prefill pool: its first stage (pools doc)
        key = (dep.gpu.id, dep.tp, dep.weights, dep.kv, dep.model.id, dep.engine.engine, pl, staged)
        times = timing.get(key)
        if times is None:
            if pl is None:
                times = IterationTimes(dep, max_ctx)
            else:
                times = IterationTimes(pl.stage, max_ctx) if staged else PipelineIterationTimes(pl, max_ctx)
            sel = req.model == g.model_index
            times.prime(req.input_len[sel])
            timing[key] = times
        limits = pipeline_engine_limits(pl) if pl is not None and not staged else engine_limits(pl.stage if pl else dep)
        pre: Preemption | None = None if opts.preemption == "engine" else opts.preemption
        g.policy = scheduler_policy(g.engine, limits, pre)
        g.servers = [
            Replica(
                tables[g.role],
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
        if g.kv_link is not None:
            notes.append(
                f"{g.candidate}: a {g.role} pool ({g.role}-only engine); KV caches over {g.kv_link.describe()} "
                "per replica"
            )
