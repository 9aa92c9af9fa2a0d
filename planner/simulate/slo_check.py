"""Plans for percentile targets: plan, simulate the chosen fleet request by request, tighten what misses,
and re-plan until the fleet meets every target.

    1.  Plan with every percentile target's value as a bound on the mean (the serving model's capacities;
        a mean above the target value would put the percentile above it too, for the p50 and beyond,
        on the right-skewed latencies of a serving replica, so this is the loosest plan worth trying), at
        the spec's target utilisation.
    2.  Simulate it: Poisson arrivals at the planned rates, CHECK_SEED, TAIL_POINTS requests beyond the
        tightest percentile, the first WARMUP_SHARE left out. Every target met -> done.
    3.  Missed: per candidate group of a model that misses, with r = simulated / target (its worst target),
        multiply the candidate's capacities by clamp(1 / r, MIN_STEP, MAX_STEP); plan and simulate again,
        until met or MAX_ROUNDS.

A model's statistic over all its requests is within target whenever every group's is (a percentile of a
mixture is at most the largest percentile of its parts), so tightening the groups that miss converges.
Why not plan each (candidate, bucket) at its simulated percentile capacity up front: that takes a few hundred
milliseconds of simulation per cell, and the analytic alternative measured against it (tail factors on the
mean-value model, bench/simulate_accuracy.py) is off by 10-50 % per cell; tightening only the candidates
the fleet's simulation finds missing gave cheaper plans in fewer rounds.

The result carries `slo_check`: met or not, the rounds, what was tightened, and every target's simulated
value. Plans whose targets are all means are planned once, as before. The comparison of aggregated against
disaggregated serving of every model with a percentile target is checked the same way, side by side, each
model alone (`_checked_comparison`): interference between the phases shows in the tail, which is where
disaggregation wins.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from planner.compare import COMPARE_MIP_GAP, CheckedSide, Side, checked_comparison
from planner.errors import InputError
from planner.inputs import PlanInputs
from planner.plan import make_plan
from planner.result import Plan, ShapeComparison, SimulatedTarget, SloCheck
from planner.solve import BASELINES_KEPT
from planner.spec import statistic_quantile

if TYPE_CHECKING:
    from planner.simulate.result import SimulationResult

MAX_ROUNDS = 6
CHECK_SEED = 0
TAIL_POINTS = 50  # requests beyond the tightest percentile the check simulates
MIN_REQUESTS = 2000
MAX_REQUESTS = 100_000
WARMUP_SHARE = 0.05
MIN_STEP = 0.5  # one round cuts a candidate's capacity by at most half
MAX_STEP = 0.9  # and by at least a tenth


def check_requests(inputs: PlanInputs) -> int:
    """Requests to simulate: TAIL_POINTS beyond the tightest percentile target, within the bounds."""
    tail = 1.0
    for m in inputs.spec.models:
        for stat in (m.slo.ttft_statistic, m.slo.tpot_statistic):
            q = statistic_quantile(stat)
            if q is not None:
                tail = min(tail, 1.0 - q)
    need = math.ceil(TAIL_POINTS / tail) if tail < 1.0 else MIN_REQUESTS
    return max(MIN_REQUESTS, min(MAX_REQUESTS, need))


def _replayable(plan: Plan, inputs: PlanInputs) -> None:
    """Refuse, naming the percentile target, a fleet the simulator cannot replay (`replay_refusal`): its
    percentiles cannot be checked, and a plan that claims them unchecked
    would mislead."""
    from planner.simulate.run import replay_refusal  # noqa: PLC0415 - the simulator loads only for percentile targets

    for a in plan.allocations:
        for rg in a.replicas:
            refused = replay_refusal(rg)
            if refused is None:
                continue
            i, m = next((i, m) for i, m in enumerate(inputs.spec.models) if m.slo.has_percentiles)
            metric: Literal["ttft", "tpot"] = "ttft" if statistic_quantile(m.slo.ttft_statistic) is not None else "tpot"
            raise InputError(
                f"the {m.slo.label(metric)} target is checked by simulating the planned fleet, and the cheapest fleet "
                f"found cannot be simulated: {refused}; give mean targets here, or plan without pipeline stages and "
                "pools (search.disaggregated: compare, search.pp: [1])",
                where=f"models[{i}].slo.{metric}_ms",
            )


def _simulate(plan: Plan, inputs: PlanInputs, requests: int) -> SimulationResult:
    from planner.simulate.run import SimulationOptions, simulate_plan  # noqa: PLC0415 - as in _replayable

    _replayable(plan, inputs)
    total_rps = sum(m.rate_rps for m in plan.models)
    duration = requests / ((1.0 - WARMUP_SHARE) * total_rps)
    options = SimulationOptions(
        arrivals="poisson", duration_s=duration, warmup_s=WARMUP_SHARE * duration, seed=CHECK_SEED
    )
    return simulate_plan(plan, inputs, options)


def _worst_ratio(targets: tuple[tuple[float | None, float], ...]) -> float:
    """max simulated / target over (simulated ms, target ms) pairs; inf when a simulated value is infinite."""
    return max((math.inf if sim is None else sim / target) for sim, target in targets) if targets else 0.0


def plan_checked(
    inputs: PlanInputs,
    *,
    solver: str | None = None,
    time_limit_s: float | None = None,
    compare: bool = True,
    baselines_kept: int = BASELINES_KEPT,
) -> Plan:
    """The cheapest plan found whose fleet meets every percentile target in simulation (module doc);
    `compare` and `baselines_kept` as in make_plan. With `compare`, the comparison of serving shapes of every
    model with a percentile target is checked the same way, each model alone (`_checked_comparison`)."""
    if not any(m.slo.has_percentiles for m in inputs.spec.models):
        return make_plan(
            inputs, solver=solver, time_limit_s=time_limit_s, compare=compare, baselines_kept=baselines_kept
        )
    requests = check_requests(inputs)

    def plan_with(scale: dict[str, float]) -> Plan:
        return make_plan(
            inputs,
            solver=solver,
            time_limit_s=time_limit_s,
            capacity_scale=scale or None,
            compare=compare,
            baselines_kept=baselines_kept,
        )

    checked = _tightened(inputs, requests, plan_with)
    if checked.sim is None:
        return checked.plan
    plan = checked.plan.model_copy(update={"slo_check": _check(checked.sim, checked.rounds, checked.scale)})
    if compare and checked.scale:
        # the comparison at the targets as means is the untightened plan's: a tightened plan's comparison
        # plans both sides with the joint check's reduced capacities, which is no lower bound on a side
        # checked alone (_checked_comparison relies on one)
        at_means = {m.model: m.comparison for m in checked.first.models}
        models = tuple(m.model_copy(update={"comparison": at_means.get(m.model, m.comparison)}) for m in plan.models)
        plan = plan.model_copy(update={"models": models})
    if compare:
        plan = _checked_comparison(inputs, plan, requests, solver, time_limit_s)
    return plan


@dataclass(frozen=True)
class _Checked:
    plan: Plan
    sim: SimulationResult | None  # None: the first plan was infeasible (nothing simulated)
    rounds: int
    scale: dict[str, float]
    first: Plan  # the plan before any tightening (at the targets as means)


def _tightened(inputs: PlanInputs, requests: int, plan_with: Callable[[dict[str, float]], Plan]) -> _Checked:
    """Plan (`plan_with(capacity scale)`), simulate, tighten the candidates that miss, until met or MAX_ROUNDS
    (steps 1-3 of the module doc)."""
    capacity_scale: dict[str, float] = {}
    rounds = 1
    plan = first = plan_with({})
    if plan.status == "infeasible":
        return _Checked(plan, None, rounds, capacity_scale, first)
    sim = _simulate(plan, inputs, requests)
    while not sim.slo_met and rounds < MAX_ROUNDS:
        missing = {m.model for m in sim.models if not m.slo_met}
        for g in sim.groups:
            ratio = _worst_ratio(tuple((t.achieved_ms, t.target_ms) for t in g.slo if not t.met))
            if g.model in missing and ratio > 1.0:
                step = min(MAX_STEP, max(MIN_STEP, 1.0 / ratio))
                capacity_scale[g.candidate] = capacity_scale.get(g.candidate, 1.0) * step
        rounds += 1
        tightened = plan_with(dict(capacity_scale))
        if tightened.status == "infeasible":
            break  # tightened beyond what the offerings can serve: the last plan (missed) is the answer
        if tightened.allocations == plan.allocations and tightened.routing == plan.routing:
            continue  # the same fleet: tighten the same candidates again, no need to simulate it again
        plan, sim = tightened, _simulate(tightened, inputs, requests)
    return _Checked(plan, sim, rounds, capacity_scale, first)


def _checked_comparison(
    inputs: PlanInputs, plan: Plan, requests: int, solver: str | None, time_limit_s: float | None
) -> Plan:
    """The comparison of serving shapes with both sides checked like the plan: for every model with a
    percentile target, each side (aggregated replicas only, prefill/decode pools only) planned, simulated and
    tightened until it meets the targets.

    Without it the comparison would set the plan's checked cost beside the other side's cost at the targets
    as bounds on the mean, which is where the two shapes look alike: the prefill chunks that stretch an
    aggregated replica's decode iterations show in the tail (bench/disagg_validation.py), and only a
    simulation sees them.

    Multi-model specs: the comparison is, by definition, each model planned alone (planner.compare), so a
    model's two sides are one-model fleets of their own: the spec with that model only (its offerings,
    search and constraints), checked exactly as a one-model spec's. No joint check is needed: the sides are
    never rented together, and the plan itself (whose fleet models may share) is checked jointly by
    `plan_checked`. Models whose targets are all means keep the mean view, which is exact for them.

    Work is saved where the answer is known: a side the plan itself is (a one-model plan all aggregated, or
    all pools, and met) costs what the plan costs; and a side whose cost at the targets as means (a lower
    bound, up to the comparison's MIP gap: tightening only lowers capacities) is already at or above the
    other side's checked cost is not simulated (it cannot win; the report says "at least")."""
    if plan.slo_check is None or plan.total_cost_usd_per_hour is None:
        return plan
    one = len(plan.models) == 1
    specs = {m.label: m for m in inputs.spec.models}
    models = []
    for summary in plan.models:
        cmp = summary.comparison
        m = specs.get(summary.model)
        if (
            m is None
            or not m.slo.has_percentiles
            or cmp is None
            or cmp.aggregated_usd_per_hour is None
            or cmp.disaggregated_usd_per_hour is None
        ):
            models.append(summary)
            continue
        known: dict[Side, CheckedSide] = _plan_side(plan) if one else {}
        alone = inputs if one else _alone(inputs, summary.model)
        sides = _checked_sides(
            alone, cmp, known, requests if one else check_requests(alone), solver, time_limit_s
        )
        models.append(summary.model_copy(update={"comparison": checked_comparison(cmp, *sides)}))
    return plan.model_copy(update={"models": tuple(models)})


def _alone(inputs: PlanInputs, label: str) -> PlanInputs:
    """The spec with one of its models only (offerings, search, constraints unchanged): what the comparison
    plans that model alone with."""
    spec = inputs.spec.model_copy(update={"models": tuple(m for m in inputs.spec.models if m.label == label)})
    return PlanInputs(spec, inputs.catalog, inputs.base_dir, inputs.spec_sha256)


def _plan_side(plan: Plan) -> dict[Side, CheckedSide]:
    """The side a one-model plan is, when its fleet met the targets: all aggregated, or all pools."""
    assert plan.slo_check is not None and plan.total_cost_usd_per_hour is not None
    if not plan.slo_check.met:
        return {}
    roles = {rg.role for a in plan.allocations for rg in a.replicas}
    shape = plan.models[0].shape.removeprefix("disaggregated: ")
    if roles == {"aggregated"}:
        return {"aggregated": CheckedSide(plan.total_cost_usd_per_hour, True, plan.slo_check.rounds, "")}
    if "aggregated" not in roles:
        return {"disaggregated": CheckedSide(plan.total_cost_usd_per_hour, True, plan.slo_check.rounds, shape)}
    return {}


def _checked_sides(
    inputs: PlanInputs,
    cmp: ShapeComparison,
    known: dict[Side, CheckedSide],
    requests: int,
    solver: str | None,
    time_limit_s: float | None,
) -> tuple[CheckedSide, CheckedSide]:
    """(aggregated, disaggregated) of a one-model spec, checked (or known, or bounded: the docstring above)."""
    assert cmp.aggregated_usd_per_hour is not None and cmp.disaggregated_usd_per_hour is not None
    sides = dict(known)
    mean: dict[Side, float] = {
        "aggregated": cmp.aggregated_usd_per_hour,
        "disaggregated": cmp.disaggregated_usd_per_hour,
    }
    for side in sorted(mean, key=lambda k: mean[k]):  # the cheaper side first: its cost may spare the other
        if side in sides:
            continue
        other = sides.get("disaggregated" if side == "aggregated" else "aggregated")
        bound = None if other is None or not other.met else other.cost_usd_per_hour
        if bound is not None and mean[side] * (1.0 - COMPARE_MIP_GAP) >= bound:
            sides[side] = CheckedSide(mean[side], False, 0, cmp.disaggregated_shape if side == "disaggregated" else "")
            continue
        sides[side] = _checked_side(inputs, requests, side, solver, time_limit_s)
    return sides["aggregated"], sides["disaggregated"]


def _checked_side(
    inputs: PlanInputs, requests: int, side: Side, solver: str | None, time_limit_s: float | None
) -> CheckedSide:
    def plan_with(scale: dict[str, float]) -> Plan:
        return make_plan(
            inputs,
            solver=solver,
            time_limit_s=time_limit_s,
            capacity_scale=scale or None,
            compare=False,
            baselines_kept=1,
            shapes=side,
        )

    checked = _tightened(inputs, requests, plan_with)
    cost = checked.plan.total_cost_usd_per_hour
    if checked.sim is None or cost is None:
        return CheckedSide(None, False, checked.rounds, "")
    shape = checked.plan.models[0].shape.removeprefix("disaggregated: ") if side == "disaggregated" else ""
    return CheckedSide(cost, checked.sim.slo_met, checked.rounds, shape)


def _check(sim: SimulationResult, rounds: int, capacity_scale: dict[str, float]) -> SloCheck:
    return SloCheck(
        met=sim.slo_met,
        rounds=rounds,
        requests=sim.settings.requests_simulated,
        arrivals="poisson at the planned rates",
        seed=CHECK_SEED,
        tightened={k: round(v, 6) for k, v in sorted(capacity_scale.items())},
        targets=tuple(
            SimulatedTarget(
                model=m.model,
                metric=t.metric,
                statistic=t.statistic,
                target_ms=t.target_ms,
                simulated_ms=t.achieved_ms,
                met=t.met,
                within_target_share=t.within_target_share,
            )
            for m in sim.models
            for t in m.slo
        ),
    )
