"""Aggregated against disaggregated serving, per model: each model planned alone twice, once with aggregated
replicas only and once with disaggregated pairs only, under the spec's targets, offerings and constraints.

The plan itself may mix both (search.disaggregated: true) or stay aggregated (compare); either way every
report shows both costs beside each other, with the saving or the reason aggregated wins:

- the pairs need instance types with a known network, and a KV transfer that leaves room in the TTFT
  target; without any pair the reason says so;
- where the pairs are cheaper per request but not once rounded up to whole instances (two pools round up
  separately), the reason says that, with the fractional-instance costs of both (a lower bound of each).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from common import limits
from planner.candidates import Candidate
from planner.capacity import ModelCapacity
from planner.problem import build_problem
from planner.result import ShapeComparison
from planner.solve import SolveSettings, solver_errors
from planner.spec import Spec
from planner.verify import verify_solution
from solvers.fleet import only_candidates, solve_fleet
from solvers.types import FleetCandidate, FleetProblem, FleetSolution

COMPARE_TIME_LIMIT_S = 10.0
"""Each comparison solve stops here at the latest (the plan's own limit if lower); a stopped one says so."""
COMPARE_MIP_GAP = 0.01
"""Comparison solves stop within 1 % of optimal (the spec's own gap if larger): the comparison is a report,
not the plan, and the 2-5x faster solves keep a plan's time within twice what it was without them."""


@dataclass(frozen=True)
class _Side:
    cost: float | None  # None: no plan
    solution: FleetSolution | None
    note: str  # why there is no plan, or that it stopped early


def compare_shapes(
    spec: Spec,
    models: Sequence[ModelCapacity],
    settings: SolveSettings,
    plan: tuple[FleetProblem, FleetSolution] | None = None,
) -> dict[str, ShapeComparison]:
    """The comparison for every model of the spec, by label. `plan`: the spec's own problem and its proven
    optimal solution, which give the aggregated side without solving again where `aggregated_alone` can."""
    known = aggregated_alone(plan[0], plan[1]) if plan is not None and spec.search.disaggregated == "compare" else {}
    return {m.label: _compare(spec, m, settings, known.get(m.label)) for m in models}


def aggregated_alone(problem: FleetProblem, solution: FleetSolution) -> dict[str, float]:
    """Models whose cheapest aggregated plan alone is the optimal joint plan's part for them, and its cost.

    When no offering of the joint optimum holds replicas of two models, every model's instances are its
    own; and when no constraint couples the models (no availability cap, spot share unrestricted), a
    cheaper plan for one model alone would make a cheaper joint plan, so its part is optimal alone (a
    budget only helps: the part costs less than the whole). The joint problem must be aggregated only."""
    if problem.pairs or any(o.available is not None for o in problem.offerings) or problem.max_spot_share < 1:
        return {}
    by_id = {c.id: c for c in problem.candidates}
    price = {o.id: o.price_usd_per_hour for o in problem.offerings}
    cost: dict[str, float] = {m: 0.0 for m in {s.model for s in problem.slices} | set(problem.min_replicas)}
    taken: dict[str, int] = {}  # instances of an offering that N+1 layouts hold (one candidate's each)
    for cid, layout in solution.dedicated.items():
        c = by_id[cid]
        n = sum(layout.values())
        taken[c.offering] = taken.get(c.offering, 0) + n
        cost[c.model] = cost.get(c.model, 0.0) + n * price[c.offering]
    holders: dict[str, set[str]] = {}
    for cid, r in solution.replicas.items():
        if r > 0 and cid not in solution.dedicated:
            holders.setdefault(by_id[cid].offering, set()).add(by_id[cid].model)
    for off, n in solution.instances.items():
        shared = n - taken.get(off, 0)
        owners = holders.get(off, set())
        if shared <= 0:
            continue
        if len(owners) != 1:
            return {}  # instances holding two models' replicas (or none): the parts are not separable
        (m,) = owners
        cost[m] = cost.get(m, 0.0) + shared * price[off]
    return {m: round(c, 6) for m, c in cost.items()}


def _compare(spec: Spec, m: ModelCapacity, settings: SolveSettings, aggregated: float | None) -> ShapeComparison:
    if spec.search.disaggregated is False:
        return _nothing("disaggregated serving not searched (search.disaggregated: false)")
    if m.spec.redundancy == "n+1":
        return _nothing("disaggregated serving not searched for N+1 models")
    whole, by_id = build_problem(spec, [m], disaggregated=True)
    problem = replace(
        whole,
        min_replicas={k: v for k, v in whole.min_replicas.items() if k == m.label},
        n_plus_one={k: v for k, v in whole.n_plus_one.items() if k == m.label},
    )
    agg_ids = {c.id for c in problem.candidates if c.role == "aggregated"}
    pools = {c.id for c in problem.candidates if c.role != "aggregated"}
    agg = _Side(aggregated, None, "") if aggregated is not None else _solve(only_candidates(problem, agg_ids), settings)
    if not problem.pairs:
        verdict = _no_pair(m)
        return ShapeComparison(
            aggregated_usd_per_hour=agg.cost,
            disaggregated_usd_per_hour=None,
            saving_pct=None,
            verdict=verdict,
        )
    dis_problem = only_candidates(problem, pools)
    dis = _solve(dis_problem, settings)
    shape = _pools(dis.solution, by_id) if dis.solution is not None else ""
    saving = (
        round(100.0 * (agg.cost - dis.cost) / agg.cost, 2)
        if agg.cost is not None and dis.cost is not None and agg.cost > 0
        else None
    )
    return ShapeComparison(
        aggregated_usd_per_hour=agg.cost,
        disaggregated_usd_per_hour=dis.cost,
        saving_pct=saving,
        disaggregated_shape=shape,
        verdict=_verdict(agg, dis, saving, only_candidates(problem, agg_ids), dis_problem),
    )


Side = Literal["aggregated", "disaggregated"]


@dataclass(frozen=True)
class CheckedSide:
    """One side of the comparison checked against percentile targets in simulation
    (planner.simulate.slo_check): its cost, whether its fleet met the targets, the fleet solves it took (0:
    not simulated, `cost_usd_per_hour` is then its cost at the targets as means, a lower bound)."""

    cost_usd_per_hour: float | None
    met: bool
    rounds: int
    shape: str  # the pools, for the disaggregated side


def checked_comparison(mean: ShapeComparison, agg: CheckedSide, dis: CheckedSide) -> ShapeComparison:
    """The comparison with both sides' costs checked against percentile targets (`mean`: the comparison at
    the targets as bounds on the mean, for the shape of a side that was not simulated)."""
    if agg.cost_usd_per_hour is None or dis.cost_usd_per_hour is None:
        side = "aggregated" if agg.cost_usd_per_hour is None else "disaggregated"
        return mean.model_copy(
            update={"verdict": f"{mean.verdict}; the {side} side has no plan once checked in simulation"}
        )
    a, d = agg.cost_usd_per_hour, dis.cost_usd_per_hour
    saving = round(100.0 * (a - d) / a, 2) if a > 0 else None

    def said(name: str, x: CheckedSide) -> str:
        if x.rounds == 0:
            return f"{name} at least ${x.cost_usd_per_hour:,.2f}/h (at the targets as means; not simulated)"
        met = "met" if x.met else f"MISSED after {x.rounds} solves"
        return f"{name} ${x.cost_usd_per_hour:,.2f}/h ({met} in simulation)"

    if saving is not None and saving > 0:
        head = f"disaggregated saves {'at least ' if agg.rounds == 0 else ''}{saving:.1f}%"
    elif saving is not None and saving < 0:
        head = f"aggregated wins (disaggregated costs {'at least ' if dis.rounds == 0 else ''}{-saving:.1f}% more)"
    else:
        head = "a tie"
    verdict = f"{head} at the percentile targets: {said('aggregated', agg)}, {said('disaggregated', dis)}"
    return ShapeComparison(
        aggregated_usd_per_hour=round(a, 6),
        disaggregated_usd_per_hour=round(d, 6),
        saving_pct=saving,
        disaggregated_shape=dis.shape or mean.disaggregated_shape,
        verdict=verdict,
    )


def _no_pair(m: ModelCapacity) -> str:
    """Why the model has no disaggregated pair, from what its candidates are."""
    poolable = [c for c in m.candidates if c.kind == "aggregated" and c.deployment is not None and not c.offload]
    networked = [c for c in poolable if m.model.catalog.network(c.priced.offering) is not None]
    if poolable and not networked:
        clouds = ", ".join(sorted({c.priced.offering.cloud for c in poolable}))
        return (
            f"no pair: the instance types that hold the model ({clouds}) have no network facts in the catalog for "
            "the KV transfer, and gpuplan assumes none (catalog networks; add one with a --catalog overlay)"
        )
    return "no pair serves a slice: the KV transfer leaves no room in the TTFT target, or a pool misses its target"


def _nothing(why: str) -> ShapeComparison:
    return ShapeComparison(aggregated_usd_per_hour=None, disaggregated_usd_per_hour=None, saving_pct=None, verdict=why)


def _solve(problem: FleetProblem, settings: SolveSettings) -> _Side:
    if limits.remaining_s() <= 0.05:
        return _Side(None, None, "not compared: the run's time limit ran out")
    limit = limits.clamp(min(settings.time_limit_s, COMPARE_TIME_LIMIT_S))
    with solver_errors():
        gap = max(settings.mip_gap, COMPARE_MIP_GAP)
        sol = solve_fleet(problem, solver=settings.solver, time_limit_s=limit, mip_gap=gap)
    if sol.status not in ("optimal", "gap"):
        why = "no plan" if sol.status == "infeasible" else f"not solved within {limit:g} s"
        return _Side(None, None, why)
    if verify_solution(problem, sol):
        return _Side(None, None, "its plan did not verify")
    note = ""
    if sol.status == "gap":
        within = sol.gap is not None and sol.gap <= max(settings.mip_gap, COMPARE_MIP_GAP) + 1e-12
        note = "within 1% of optimal" if within else "stopped at the time limit, not proven optimal"
    return _Side(round(sol.cost_usd_per_hour, 6), sol, note)


def _pools(solution: FleetSolution, by_id: dict[str, Candidate]) -> str:
    parts: dict[str, list[str]] = {"prefill": [], "decode": []}
    for cid, r in sorted(solution.replicas.items()):
        c = by_id[cid]
        if r > 0 and c.kind in parts:
            parts[c.kind].append(f"{r}x {c.shape} {c.priced.gpu.id} ({c.priced.offering.instance_type})")
    return f"prefill {', '.join(parts['prefill'])} -> decode {', '.join(parts['decode'])}"


def fractional_cost(problem: FleetProblem) -> float:
    """$/h of the cheapest routing if instances could be rented in fractions: each slice on the route with
    the fewest $ per req/s at the target utilisation (a replica's GPUs at its instance's price per GPU; a
    pair: its prefill replica's share plus its decode replica's). A lower bound on any plan's cost (inf
    when some slice has no route)."""
    gpus = {o.id: o.gpus_per_instance for o in problem.offerings}
    per_gpu = {o.id: o.price_usd_per_hour / o.gpus_per_instance for o in problem.offerings}

    def replica_usd(c: FleetCandidate) -> float:
        rented = gpus[c.offering] * c.nodes if c.nodes > 1 else c.tp
        return rented * per_gpu[c.offering]

    cand = {c.id: (j, c) for j, c in enumerate(problem.candidates)}
    u = problem.target_utilisation
    total = 0.0
    for k, s in enumerate(problem.slices):
        options = [
            replica_usd(c) / (u * problem.capacity_rps[k][j])
            for j, c in enumerate(problem.candidates)
            if c.role == "aggregated" and problem.capacity_rps[k][j] > 0
        ]
        for q, pair in enumerate(problem.pairs):
            jd, dec = cand[pair.decode]
            pre_cap, dec_cap = problem.pair_capacity_rps[k][q], problem.capacity_rps[k][jd]
            if pre_cap > 0 and dec_cap > 0:
                options.append((replica_usd(cand[pair.prefill][1]) / pre_cap + replica_usd(dec) / dec_cap) / u)
        if not options:
            return math.inf
        total += s.rate_rps * min(options)
    return total


def _verdict(
    agg: _Side, dis: _Side, saving: float | None, agg_problem: FleetProblem, dis_problem: FleetProblem
) -> str:
    notes = [f"{side}: {x.note}" for side, x in (("aggregated", agg), ("disaggregated", dis)) if x.note]
    tail = f" ({'; '.join(notes)})" if notes else ""
    if dis.cost is None:
        return "no disaggregated plan serves every slice (a slice no pair serves within the targets)" + tail
    if agg.cost is None:
        return "only disaggregated serving meets the targets" + tail
    if saving is None:  # an aggregated plan that rents nothing
        return f"aggregated ${agg.cost:,.2f}/h, disaggregated ${dis.cost:,.2f}/h" + tail
    if saving > 0:
        return f"disaggregated saves {saving:.1f}% (${agg.cost:,.2f}/h -> ${dis.cost:,.2f}/h)" + tail
    lower_agg, lower_dis = fractional_cost(agg_problem), fractional_cost(dis_problem)
    if lower_dis < lower_agg - 1e-9:
        return (
            f"aggregated wins{_by(saving)}: per request the pairs cost less (${lower_dis:,.2f}/h vs "
            f"${lower_agg:,.2f}/h at fractional instances), but their two pools round up to whole instances"
            + tail
        )
    return (
        f"aggregated wins{_by(saving)}: one replica doing both phases costs less per request than a prefill "
        f"replica plus a decode replica (${lower_agg:,.2f}/h vs ${lower_dis:,.2f}/h at fractional instances)"
        + tail
    )


def _by(saving: float) -> str:
    """How much dearer the disaggregated plan is: ' (disaggregated costs 18% more)', or ' (a tie)'."""
    return " (a tie)" if saving == 0 else f" (disaggregated costs {-saving:.1f}% more)"
