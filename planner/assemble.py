"""The last stage: a solved (or unsolvable) fleet problem back in the spec's terms, as a frozen Plan.

Allocations per offering with their replica groups, routing per slice with the predicted latencies at
the planned load (planner.routing), per-model summaries, baselines, the assumptions a reader needs, and
the verifier's verdict. Nothing here decides anything; it only translates and rounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from catalog.trust import age_days, reference_date
from planner.assumptions import assumptions, margin_note, price_trust
from planner.candidates import Candidate, offload_dtypes
from planner.capacity import CandidateCapacity, ModelCapacity
from planner.inputs import PlanInputs
from planner.offerings import PricedOffering
from planner.perf import Deployment, memory_breakdown, weights_bytes_total
from planner.perf.memory import graph_batch_limit, sequence_limit
from planner.perf.pipeline import stage_model
from planner.result import (
    Allocation,
    Baseline,
    CapacitySourceName,
    DedicatedInstances,
    EngineSettings,
    ModelSummary,
    Plan,
    ReplicaGroup,
    ShapeComparison,
    SolverStats,
    Verification,
)
from planner.routing import failover, routing, utilisation
from planner.solve import Solved
from planner.verify import VERIFY_CHECKS
from planner.workload import Slice
from solvers.types import SHARE_EPS, FleetProblem, FleetSolution


@dataclass(frozen=True)
class Solution:
    """The problem as solved (shares already rounded for publication), with what the plan needs."""

    problem: FleetProblem
    by_id: dict[str, Candidate]  # candidates by id
    solved: Solved


def infeasible_plan(
    inputs: PlanInputs,
    models: Sequence[ModelCapacity],
    reasons: tuple[str, ...],
    stats: SolverStats,
    solver_note: str = "",
) -> Plan:
    """A plan that says why there is no fleet."""
    return Plan(
        name=inputs.spec.name,
        status="infeasible",
        total_cost_usd_per_hour=None,
        total_gpus=0,
        total_instances=0,
        allocations=(),
        routing=(),
        models=_model_summaries(models, None, {}),
        baselines=(),
        best_single_offering_cost_usd_per_hour=None,
        saving_vs_best_single_pct=None,
        infeasible_reasons=reasons,
        assumptions=assumptions(inputs, models, (), solver_note),
        solver=stats,
        verification=Verification(passed=True, checks=("not run: no plan",)),
        catalog_version=inputs.catalog.version,
        spec_sha256=inputs.spec_sha256,
    )


def assemble(inputs: PlanInputs, models: Sequence[ModelCapacity], sol: Solution) -> Plan:
    """The plan of a solved problem. Its verification is left "not run": the caller verifies the plan as
    published (`planner.verify.verify_published`) and fills it in."""
    solution = sol.solved.solution
    source = {r.id: r.source for m in models for r in m.rows}
    rows = {r.id: r for m in models for r in m.rows}
    measured = {cid for cid, name in source.items() if name == "measured"}
    util = utilisation(sol.problem, solution)
    settings = _engine_settings(models, sol)
    allocations, used = _allocations(inputs, sol, util, source, settings, rows, _equivalents(inputs, models))
    routes = routing(models, sol.problem, solution, sol.by_id, measured)
    baselines = _baselines(sol.solved.singles, sol.by_id)
    total = round(sum(a.cost_usd_per_hour for a in allocations), 6)
    best_single = baselines[0].cost_usd_per_hour if baselines else None
    saving = round(100.0 * (best_single - total) / best_single, 2) if best_single else None
    return Plan(
        name=inputs.spec.name,
        status="optimal" if solution.status == "optimal" else "gap",
        total_cost_usd_per_hour=total,
        total_gpus=sum(a.instances * a.gpus_per_instance for a in allocations),
        total_instances=sum(a.instances for a in allocations),
        allocations=allocations,
        routing=routes,
        failover=failover(sol.problem, solution, sol.by_id),
        models=_model_summaries(models, solution, sol.by_id),
        baselines=baselines,
        best_single_offering_cost_usd_per_hour=best_single,
        saving_vs_best_single_pct=saving,
        assumptions={**assumptions(inputs, models, used, sol.solved.note), **margin_note(inputs, allocations)},
        measured_profiles_used=tuple(sorted(measured & set(solution.replicas))),
        solver=sol.solved.stats,
        verification=Verification(passed=False, checks=VERIFY_CHECKS, violations=("not verified yet",)),
        catalog_version=inputs.catalog.version,
        spec_sha256=inputs.spec_sha256,
    )


def _dtypes(inputs: PlanInputs, c: Candidate) -> tuple[str, str]:
    if c.offload:
        return offload_dtypes(inputs.spec.search)
    if c.deployment is None:
        return "measured", "measured"
    return c.deployment.weights, c.deployment.kv


def _engine_settings(models: Sequence[ModelCapacity], sol: Solution) -> dict[str, EngineSettings]:
    """What the estimator assumed of the engine for each estimated replica group (`gpuplan export`'s input):
    routed to it are the slices it serves; a standby group (no traffic) is sized for all its model's slices."""
    solution = sol.solved.solution
    slice_of = {s.id: s for m in models for s in m.slices}
    model_slices = {m.label: m.slices for m in models}
    out: dict[str, EngineSettings] = {}
    legs = {
        q.id: (q.prefill.id, q.decode.id)
        for q in sol.by_id.values()
        if q.kind == "pair" and q.prefill is not None and q.decode is not None
    }
    for cid, r in solution.replicas.items():
        c = sol.by_id[cid]
        if r <= 0 or c.offload or c.deployment is None:
            continue
        routed = [
            slice_of[sid]
            for sid, shares in solution.routing.items()
            if any(share > SHARE_EPS and cid in (route, *legs.get(route, ())) for route, share in shares.items())
        ]
        out[cid] = engine_settings(c.deployment, routed or model_slices.get(c.model_label, ()), c.pp, c.ep)
    return out


def engine_settings(dep: Deployment, routed: Sequence[Slice], pp: int = 1, ep: int = 1) -> EngineSettings:
    """The engine configuration one replica of `dep` (in `pp` pipeline stages) serving `routed` was estimated
    with; memory figures are per GPU (of the heaviest stage)."""
    mem = memory_breakdown(replace(dep, model=stage_model(dep.model, pp)) if pp > 1 else dep)
    longest = max((s.input_len + s.output_len for s in routed), default=dep.context_window)
    return EngineSettings(
        profile=f"{dep.engine.engine}/{dep.engine.family}",
        hf_repo=dep.model.hf_repo,
        checkpoint_gb=round(weights_bytes_total(dep.model, "bf16") / 1e9, 3),
        max_model_len=min(longest, dep.context_window),
        max_num_seqs=int(sequence_limit(dep)),
        cuda_graph_max_batch=int(graphs) if math.isfinite(graphs := graph_batch_limit(dep)) else None,
        max_num_batched_tokens=int(dep.factor("max_num_batched_tokens")),
        chunked_prefill=True,
        gpu_memory_utilization=dep.gpu_memory_utilization,
        gpu_memory_gb=round(mem.device_gb_per_gpu, 6),
        weights_gb_per_gpu=round(mem.weights_gb, 6),
        activation_gb_per_gpu=round(mem.activation_gb, 6),
        runtime_reserve_gb_per_gpu=round(mem.reserve_gb, 6),
        kv_cache_gb_per_gpu=round(mem.free_for_kv_gb_per_gpu, 6),
        kv_cache_tokens=mem.max_tokens_in_kv,
        pp=pp,
        ep=ep,
    )


def _equivalents(inputs: PlanInputs, models: Sequence[ModelCapacity]) -> dict[str, tuple[str, ...]]:
    """Offering (priced id) -> the left-out offerings it stands in for at exactly the same catalog price."""
    if not models:
        return {}
    offerings = inputs.catalog.offerings
    out: dict[str, list[str]] = {}
    for dropped, by in models[0].model.dropped:
        a, b = offerings.get(dropped.removesuffix("#spot")), offerings.get(by.removesuffix("#spot"))
        if a is not None and b is not None and (a.price_usd_per_hour, a.spot_price_usd_per_hour) == (
            b.price_usd_per_hour, b.spot_price_usd_per_hour
        ):
            out.setdefault(by, []).append(dropped)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _allocations(
    inputs: PlanInputs,
    sol: Solution,
    util: dict[str, float],
    source: dict[str, CapacitySourceName],
    settings: dict[str, EngineSettings],
    rows: dict[str, CandidateCapacity],
    equivalents: dict[str, tuple[str, ...]],
) -> tuple[tuple[Allocation, ...], tuple[PricedOffering, ...]]:
    """Instances per offering with their replica groups (and how far their prices can be trusted); and
    the offerings used."""
    today = reference_date()
    solution, by_id = sol.solved.solution, sol.by_id
    allocations = []
    used: list[PricedOffering] = []
    for oid in sorted(solution.instances):
        n = solution.instances[oid]
        if n <= 0:
            continue
        groups = sorted(
            (by_id[cid] for cid, r in solution.replicas.items() if r > 0 and by_id[cid].priced.id == oid),
            key=lambda c: c.id,
        )
        if not groups:
            continue
        po = groups[0].priced
        used.append(po)
        flags, notes = price_trust(inputs, po)
        reps = tuple(
            ReplicaGroup(
                candidate=c.id,
                model=c.model_label,
                tp=c.tp,
                pp=c.pp,
                ep=c.ep,
                nodes=c.nodes,
                role="aggregated" if c.kind == "pair" else c.kind,
                weights=_dtypes(inputs, c)[0],
                kv=_dtypes(inputs, c)[1],
                engine="offload" if c.offload else inputs.spec.search.engine,
                replicas=solution.replicas[c.id],
                gpus=solution.replicas[c.id] * c.gpus,
                utilisation=round(util.get(c.id, 0.0), 4),
                capacity_source=source[c.id],
                capacity_grade=rows[c.id].grade,
                capacity_margin=rows[c.id].margin,
                engine_settings=settings.get(c.id),
                dedicated=tuple(
                    DedicatedInstances(replicas_per_instance=k, instances=i)
                    for k, i in sorted(solution.dedicated.get(c.id, {}).items())
                ),
            )
            for c in groups
        )
        allocations.append(
            Allocation(
                offering=po.offering.id,
                cloud=po.offering.cloud,
                region=po.offering.region,
                instance_type=po.offering.instance_type,
                gpu=po.gpu.id,
                gpus_per_instance=po.offering.gpus_per_instance,
                spot=po.spot,
                instances=n,
                price_usd_per_hour=po.price_usd_per_hour,
                cost_usd_per_hour=round(n * po.price_usd_per_hour, 6),
                replicas=reps,
                idle_gpus=n * po.offering.gpus_per_instance - sum(g.gpus for g in reps),
                price_flags=flags,
                price_notes=notes,
                price_as_of=po.offering.as_of,
                price_age_days=age_days(po.offering.as_of, today),
                equivalent_offerings=equivalents.get(po.id, ()),
            )
        )
    return tuple(allocations), tuple(used)


def _baselines(singles: Sequence[tuple[str, FleetSolution]], by_id: dict[str, Candidate]) -> tuple[Baseline, ...]:
    gpu_of = {c.priced.id: c.priced.gpu.id for c in by_id.values()}
    return tuple(
        Baseline(
            offering=oid,
            gpu=gpu_of[oid],
            instances=sol.instances.get(oid, 0),
            cost_usd_per_hour=round(sol.cost_usd_per_hour, 6),
            disaggregated=any(r > 0 and by_id[cid].kind != "aggregated" for cid, r in sol.replicas.items()),
        )
        for oid, sol in singles
    )


def _model_summaries(
    models: Sequence[ModelCapacity], solution: FleetSolution | None, by_id: dict[str, Candidate]
) -> tuple[ModelSummary, ...]:
    out = []
    for m in models:
        replicas = gpus = 0
        cost = 0.0
        if solution is not None:
            for cid, r in solution.replicas.items():
                c = by_id[cid]
                if c.model_label != m.label:
                    continue
                replicas += r
                gpus += r * c.gpus
                cost += r * c.gpus * c.priced.price_usd_per_hour / c.priced.offering.gpus_per_instance
        out.append(
            ModelSummary(
                model=m.label,
                model_id=m.spec.model,
                rate_rps=round(sum(s.rate_rps for s in m.slices), 6),
                slo_ttft_ms=m.spec.slo.ttft_ms,
                slo_tpot_ms=m.spec.slo.tpot_ms,
                slices=len(m.slices),
                replicas=replicas,
                gpus=gpus,
                cost_usd_per_hour=round(cost, 4),
                redundancy=m.spec.redundancy,
                slo_ttft_statistic=m.spec.slo.ttft_statistic,
                slo_tpot_statistic=m.spec.slo.tpot_statistic,
                shape=describe_shape(m.label, solution, by_id) if solution is not None else "",
            )
        )
    return tuple(out)


def describe_shape(label: str, solution: FleetSolution, by_id: dict[str, Candidate]) -> str:
    """How the plan serves one model, e.g. "aggregated 2x tp8 a100-40gb; disaggregated: prefill 3x tp2 b200
    -> decode 1x tp8 h200"."""
    agg: list[str] = []
    pools: dict[str, list[str]] = {"prefill": [], "decode": []}
    for cid, r in sorted(solution.replicas.items()):
        c = by_id[cid]
        if c.model_label != label or r <= 0:
            continue
        what = f"{r}x {c.shape} {c.priced.gpu.id}" + (f" ({c.nodes} instances each)" if c.nodes > 1 else "")
        if c.kind in pools:
            pools[c.kind].append(what)
        else:
            agg.append(what)
    parts = []
    if agg:
        parts.append("aggregated " + ", ".join(agg))
    if pools["prefill"] or pools["decode"]:
        parts.append(f"disaggregated: prefill {', '.join(pools['prefill'])} -> decode {', '.join(pools['decode'])}")
    return "; ".join(parts)


def with_comparisons(plan: Plan, comparisons: dict[str, ShapeComparison]) -> Plan:
    """`plan` with each model's aggregated-vs-disaggregated comparison in its summary."""
    models = tuple(m.model_copy(update={"comparison": comparisons.get(m.model)}) for m in plan.models)
    return plan.model_copy(update={"models": models})
