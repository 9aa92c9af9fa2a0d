"""Multi-period planning: demand per period (workload.rate_curve) -> what to commit, and the fleet per period.

    inputs, capacity, problem     as for a single-period plan (planner.plan): capacities do not depend on
                                  the rate, so they are estimated once and serve every period
    periods                       every model's rates per period and slice (planner.rate_curve); a model
                                  without a curve has its rate in every period
    commitments, lead times       planner.schedule_prices: per on-demand offering and term, the spec's override
                                  or the catalog's best-confidence price; instance start + the largest model's
                                  weights over the load bandwidth
    solve                         solvers.periods: the plan, and two baselines on the same inputs without
                                  spot or commitments: one fleet for every period (peak-provisioned) and a
                                  fleet per period (autoscaled)
    verify                        planner.verify_periods, for the plan and both baselines

Spot offerings and availability caps come from the spec's `offerings` as for `plan`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from common import limits
from planner.capacity import ModelCapacity, model_capacity
from planner.errors import InputError
from planner.inputs import PlanInputs, check_profiles, load_inputs, load_model, offerings_for
from planner.problem import build_problem, check_fleet_size
from planner.result import SolverStats, Verification
from planner.schedule_prices import (
    ON_PREM,
    PriceInfo,
    commitment_options,
    lead_times,
    on_prem_offerings,
    schedule_offerings,
)
from planner.schedule_result import (
    CommitmentOption,
    CurveSummary,
    LeadTime,
    PeriodFleet,
    Schedule,
    ScheduleBaseline,
)
from planner.solve import not_run, solve_settings, solver_errors, solver_stats
from planner.spec import ScheduleOptions
from planner.verify_periods import PERIOD_CHECKS, verify_periods
from solvers.periods import PeriodsProblem, PeriodsSolution, committed_per_offering, solve_periods
from solvers.types import FleetProblem

PLAN_SHARE = 0.6
"""Share of the time limit for the plan itself; the two baselines share the rest."""

ASSUMPTIONS = (
    "a period's rate is its mean: bursts inside a period are not planned for",
    "capacity for a period is requested ahead (the curve is known); each start is billed for its lead time",
    "committed instances are paid every hour of the horizon, used or not; the horizon stands for the whole term",
    "the horizon repeats (cyclic): the first period follows the last",
    "spot capacity is limited by offerings.max_spot_share (and offerings.spot_buffer) in every period; "
    "interruptions are not simulated",
    "baselines use on-demand instances only (no spot, no commitments), on the same capacities and caps",
)

PEAK_BASELINE = "one on-demand fleet for every period, sized for all of them"
AUTOSCALED_BASELINE = "an on-demand fleet per period (scaled every period, starts billed)"


def make_schedule(inputs: PlanInputs, *, solver: str | None = None, time_limit_s: float | None = None) -> Schedule:
    """The multi-period plan of the spec; an unplannable spec is a Schedule with reasons."""
    with limits.run_scope():
        return _make_schedule(inputs, solver=solver, time_limit_s=time_limit_s)


def _make_schedule(inputs: PlanInputs, *, solver: str | None, time_limit_s: float | None) -> Schedule:
    spec = inputs.spec
    if spec.constraints.budget_usd_per_hour is not None:
        raise InputError(
            "a budget per hour does not bound a multi-period plan; leave it out for `gpuplan schedule`",
            where="constraints.budget_usd_per_hour",
        )
    settings = solve_settings(spec, solver, time_limit_s)
    check_profiles(spec, inputs.catalog)
    offerings = on_prem_offerings(inputs, offerings_for(inputs))
    models = schedule_offerings(inputs, [load_model(inputs, i, offerings) for i in range(len(spec.models))])
    period_s, curves = _curves(models_of := [model_capacity(m) for m in models])
    reasons = tuple(r for m in models_of for r in m.reasons)
    stats = not_run(settings)
    if reasons:
        return _infeasible(inputs, period_s, curves, reasons, stats)
    base, by_id = build_problem(spec, models_of)
    check_fleet_size(base, models_of)
    rates = _rates(models_of)
    lead = lead_times(inputs, base, by_id)
    commitments, options = commitment_options(inputs, base)
    problem = PeriodsProblem(
        base=base,
        rates_rps=rates,
        period_hours=period_s / 3600.0,
        commitments=commitments,
        start_hours={t.offering: t.lead_s / 3600.0 for t in lead},
        cyclic=spec.schedule.cyclic,
        owned_only=frozenset(spec.schedule.on_prem) & {o.id for o in base.offerings},
    )
    limit, gap = settings.time_limit_s, settings.mip_gap
    t0 = time.perf_counter()
    with solver_errors():
        plan = solve_periods(problem, solver=settings.solver, time_limit_s=PLAN_SHARE * limit, mip_gap=gap)
    stats = solver_stats(plan)
    if plan.status not in ("optimal", "gap"):
        reason = plan.message or f"the multi-period problem is {plan.status}"
        return _infeasible(inputs, period_s, curves, (reason,), stats, lead)
    on_demand = replace(
        problem, base=rented_on_demand(base, problem.owned_only), commitments=(), owned_only=frozenset()
    )
    with solver_errors():  # the baselines share what the plan left of the time limit
        left = limit - (time.perf_counter() - t0)
        auto = solve_periods(on_demand, solver=settings.solver, time_limit_s=max(left / 2, 1e-3), mip_gap=gap)
        constant = replace(on_demand, constant_fleet=True)
        left = limit - (time.perf_counter() - t0)
        peak = solve_periods(constant, solver=settings.solver, time_limit_s=max(left, 1e-3), mip_gap=gap)
    violations = verify_periods(problem, plan)
    violations += tuple(f"autoscaled baseline: {v}" for v in verify_periods(on_demand, auto))
    violations += tuple(f"peak baseline: {v}" for v in verify_periods(constant, peak))
    total = plan.cost_usd
    return Schedule(
        name=spec.name,
        status="optimal" if plan.status == "optimal" else "gap",
        periods=problem.periods,
        period_s=period_s,
        horizon_hours=problem.horizon_hours,
        total_cost_usd=round(total, 4),
        mean_cost_usd_per_hour=round(total / problem.horizon_hours, 4),
        commitments=_options(problem, plan, options),
        fleet=_fleet(problem, plan),
        baselines=(
            _baseline("peak_provisioned_on_demand", PEAK_BASELINE, peak, total),
            _baseline("autoscaled_on_demand", AUTOSCALED_BASELINE, auto, total),
        ),
        curves=curves,
        lead_times=lead,
        assumptions=_assumptions(spec.schedule),
        solver=stats,
        build_seconds=round(plan.build_seconds, 4),
        verification=Verification(passed=not violations, checks=PERIOD_CHECKS, violations=violations),
        catalog_version=inputs.catalog.version,
        spec_sha256=inputs.spec_sha256,
    )


ON_PREM_ASSUMPTION = (
    "on-prem instances cost purchase / (lifetime x 8760 h) + power x $/kWh + opex / 8760 h every hour, "
    "powered on, used or not; none is rented by the hour"
)


def _assumptions(options: ScheduleOptions) -> tuple[str, ...]:
    out: tuple[str, ...] = ASSUMPTIONS
    if not options.cyclic:
        out = tuple(
            "the horizon starts with the committed instances only (schedule.cyclic: false)" if "cyclic" in a else a
            for a in ASSUMPTIONS
        )
    return out + ((ON_PREM_ASSUMPTION,) if options.on_prem else ())


def _infeasible(
    inputs: PlanInputs,
    period_s: float,
    curves: tuple[CurveSummary, ...],
    reasons: tuple[str, ...],
    stats: SolverStats,
    lead: tuple[LeadTime, ...] = (),
) -> Schedule:
    return Schedule(
        name=inputs.spec.name,
        status="infeasible",
        periods=0,
        period_s=period_s,
        horizon_hours=0.0,
        total_cost_usd=None,
        mean_cost_usd_per_hour=None,
        commitments=(),
        fleet=(),
        baselines=(),
        curves=curves,
        lead_times=lead,
        assumptions=_assumptions(inputs.spec.schedule),
        infeasible_reasons=reasons,
        solver=stats,
        build_seconds=0.0,
        verification=Verification(passed=True, checks=("not run: no plan",)),
        catalog_version=inputs.catalog.version,
        spec_sha256=inputs.spec_sha256,
    )


# ------------------------------------------------------------------------------------------ periods
def _curves(models: Sequence[ModelCapacity]) -> tuple[float, tuple[CurveSummary, ...]]:
    """The common period length, and each model's curve; curves of different shapes are an input error."""
    shaped = [(m, m.model.workload.periods) for m in models if m.model.workload.periods is not None]
    period_s = shaped[0][1].period_s if shaped else 3600.0
    count = shaped[0][1].periods if shaped else 1
    for m, pr in shaped[1:]:
        if pr.period_s != period_s or pr.periods != count:
            raise InputError(
                f"{pr.periods} periods of {pr.period_s:g} s, but {shaped[0][0].label} has {count} of "
                f"{period_s:g} s; every model's curve needs the same periods",
                where=f"{m.model.where}.workload.rate_curve",
            )
    out = []
    for m in models:
        curve = m.model.workload.periods
        if curve is None:
            rate = sum(s.rate_rps for s in m.slices)
            out.append(
                CurveSummary(
                    model=m.label, source="constant", scale=1.0, peak_rps=rate, mean_rps=rate, trace_start_s=None
                )
            )
        else:
            totals = curve.totals_rps
            out.append(
                CurveSummary(
                    model=m.label,
                    source=curve.source,
                    scale=round(curve.scale, 9),
                    peak_rps=round(curve.peak_rps, 6),
                    mean_rps=round(sum(totals) / len(totals), 6),
                    trace_start_s=curve.trace_start_s,
                )
            )
    return period_s, tuple(out)


def _rates(models: Sequence[ModelCapacity]) -> tuple[tuple[float, ...], ...]:
    """rates[p][s] over the problem's slices (the models' slices in order)."""
    count = max((m.model.workload.periods.periods for m in models if m.model.workload.periods), default=1)
    rows: list[list[float]] = [[] for _ in range(count)]
    for m in models:
        pr = m.model.workload.periods
        for p in range(count):
            rows[p] += list(pr.rates_rps[p]) if pr is not None else [s.rate_rps for s in m.slices]
    return tuple(tuple(r) for r in rows)


def rented_on_demand(problem: FleetProblem, owned: frozenset[str] = frozenset()) -> FleetProblem:
    """The problem with its spot offerings and the `owned` ones (and the candidates and pairs on them)
    left out: what the on-demand baselines may rent."""
    offerings = tuple(o for o in problem.offerings if not o.spot and o.id not in owned)
    ids = {o.id for o in offerings}
    keep = [j for j, c in enumerate(problem.candidates) if c.offering in ids]
    kept = {problem.candidates[j].id for j in keep}
    pairs = [j for j, q in enumerate(problem.pairs) if q.prefill in kept and q.decode in kept]
    return replace(
        problem,
        offerings=offerings,
        candidates=tuple(problem.candidates[j] for j in keep),
        capacity_rps=tuple(tuple(row[j] for j in keep) for row in problem.capacity_rps),
        pairs=tuple(problem.pairs[j] for j in pairs),
        pair_capacity_rps=tuple(tuple(row[j] for j in pairs) for row in problem.pair_capacity_rps)
        if problem.pairs
        else (),
    )


# ------------------------------------------------------------------------------------------ report
def _fleet(problem: PeriodsProblem, plan: PeriodsSolution) -> tuple[PeriodFleet, ...]:
    k = committed_per_offering(problem, plan.committed)
    spot = {o.id for o in problem.base.offerings if o.spot}
    gpus = {o.id: o.gpus_per_instance for o in problem.base.offerings}
    prices = {o.id: o.price_usd_per_hour for o in problem.base.offerings}
    by_id = {c.id: c for c in problem.commitments}
    committed_per_hour = sum(by_id[j].price_usd_per_hour * n for j, n in plan.committed.items())
    h = problem.period_hours
    out = []
    for p, (fleet, grown) in enumerate(zip(plan.periods, plan.starts, strict=True)):
        hourly = sum(prices[o] * (n - k.get(o, 0)) for o, n in fleet.instances.items())
        starts = sum(problem.start_hours.get(o, 0.0) * prices[o] * n for o, n in grown.items())
        out.append(
            PeriodFleet(
                period=p,
                start_s=round(p * h * 3600.0, 3),
                rate_rps=round(sum(problem.rates_rps[p]), 6),
                instances=dict(sorted(fleet.instances.items())),
                replicas=dict(sorted(fleet.replicas.items())),
                committed_instances=sum(k.values()),
                on_demand_instances=sum(n - k.get(o, 0) for o, n in fleet.instances.items() if o not in spot),
                spot_instances=sum(n for o, n in fleet.instances.items() if o in spot),
                started_instances=sum(grown.values()),
                gpus=sum(gpus[o] * n for o, n in fleet.instances.items()),
                cost_usd=round(h * (committed_per_hour + hourly) + starts, 4),
            )
        )
    return tuple(out)


def _options(
    problem: PeriodsProblem,
    plan: PeriodsSolution,
    info: Mapping[str, PriceInfo],
) -> tuple[CommitmentOption, ...]:
    prices = {o.id: o.price_usd_per_hour for o in problem.base.offerings}
    k = committed_per_offering(problem, plan.committed)
    busy = _busy_gpus(problem, plan)
    gpus = {o.id: o.gpus_per_instance for o in problem.base.offerings}
    out = []
    for c in problem.commitments:
        n = plan.committed.get(c.id, 0)
        used = None
        if n:
            have = k[c.offering] * gpus[c.offering]
            used = round(sum(min(b.get(c.offering, 0.0), have) for b in busy) / (have * len(busy)), 4)
        where = info.get(c.id, PriceInfo("", "", "", "price"))
        od = prices[c.offering]
        out.append(
            CommitmentOption(
                commitment=c.id,
                offering=c.offering,
                term=c.term,
                price_usd_per_hour=c.price_usd_per_hour,
                on_demand_usd_per_hour=od,
                break_even_utilisation=round(c.price_usd_per_hour / od, 4) if od > 0 and c.term != ON_PREM else None,
                instances=n,
                utilisation=used,
                confidence=where.confidence,
                source=where.source,
                as_of=where.as_of,
                price_from=where.price_from,
            )
        )
    return tuple(sorted(out, key=lambda x: (-x.instances, x.offering, x.term, x.commitment)))


def _busy_gpus(problem: PeriodsProblem, plan: PeriodsSolution) -> list[dict[str, float]]:
    """Per period: GPUs of each offering the routed load keeps busy at the target utilisation
    (Σ over its candidates of load / capacity x GPUs per replica / u)."""
    base = problem.base
    index = {s.id: k for k, s in enumerate(base.slices)}
    col = {c.id: j for j, c in enumerate(base.candidates)}
    out = []
    for p, fleet in enumerate(plan.periods):
        busy: dict[str, float] = {}
        for sid, shares in fleet.routing.items():
            k = index[sid]
            for cid, share in shares.items():
                j = col.get(cid)
                if j is None or base.capacity_rps[k][j] <= 0:
                    continue  # a pair: its pools' load is not counted here
                c = base.candidates[j]
                load = problem.rates_rps[p][k] * share / base.capacity_rps[k][j]
                busy[c.offering] = busy.get(c.offering, 0.0) + load * c.tp * c.nodes / base.target_utilisation
        out.append(busy)
    return out


def _baseline(name: str, description: str, sol: PeriodsSolution, total: float) -> ScheduleBaseline:
    solved = sol.status in ("optimal", "gap")
    bound = sol.cost_usd * (1 - (sol.gap or 0.0)) if solved else 0.0
    return ScheduleBaseline(
        name=name,  # type: ignore[arg-type]
        description=description,
        status=sol.status,
        cost_usd=round(sol.cost_usd, 4) if solved else None,
        gap=None if not solved else round(sol.gap or 0.0, 6),
        saving_pct=round(100.0 * (1 - total / sol.cost_usd), 2) if solved and sol.cost_usd > 0 else None,
        saving_at_least_pct=round(100.0 * (1 - total / bound), 2) if solved and bound > 0 else None,
        max_instances=max((sum(f.instances.values()) for f in sol.periods), default=0),
    )


def schedule_spec_file(spec_path: Path, overlays: tuple[Path, ...] = ()) -> Schedule:
    """Convenience for library users: load a spec file and plan it over its periods."""
    return make_schedule(load_inputs(spec_path, overlays))
