"""An independent re-check of a multi-period plan, without the solver's arrays.

Every period's fleet is checked by `planner.verify.verify_solution` against that period's slices and
rates (demand, capacity within the SLOs, packing, availability, spot share, min replicas, N+1); on top:
the committed instances run in every period, the constant-fleet baseline really is constant, the starts
reported are the growth from one period to the next, and the horizon's cost is what the counts and
prices say it is (recomputed here, term by term).
"""

from __future__ import annotations

import math

from planner.verify import verify_solution
from solvers.periods import PeriodsProblem, PeriodsSolution
from solvers.types import FleetProblem, FleetSlice

PERIOD_CHECKS = (
    "every period: demand, capacity, packing, availability, spot share, min replicas, N+1 (planner.verify)",
    "committed instances run in every period; owned-only offerings run no more than committed; caps",
    "starts are the growth over the period before",
    "horizon cost recomputed from counts and prices",
)


def _period(problem: PeriodsProblem, p: int) -> FleetProblem:
    """Period p's slices with traffic, at p's rates (built here again, not taken from the solver module)."""
    base = problem.base
    rates = problem.rates_rps[p]
    keep = [k for k, r in enumerate(rates) if r > 0]
    slices = tuple(FleetSlice(base.slices[k].id, base.slices[k].model, rates[k]) for k in keep)
    return FleetProblem(
        offerings=base.offerings,
        candidates=base.candidates,
        slices=slices,
        capacity_rps=tuple(base.capacity_rps[k] for k in keep),
        target_utilisation=base.target_utilisation,
        min_replicas=base.min_replicas,
        max_spot_share=base.max_spot_share,
        budget_usd_per_hour=None,
        mode=base.mode,
        slice_factor=base.slice_factor,
        n_plus_one=base.n_plus_one,
        pairs=base.pairs,
        pair_capacity_rps=tuple(base.pair_capacity_rps[k] for k in keep) if base.pairs else (),
    )


def verify_periods(problem: PeriodsProblem, solution: PeriodsSolution, tol: float = 1e-6) -> tuple[str, ...]:
    """Every way `solution` breaks `problem`, as readable lines; empty when the plan is valid."""
    if solution.status not in ("optimal", "gap"):
        return ()
    out: list[str] = []
    if len(solution.periods) != problem.periods or len(solution.starts) != problem.periods:
        return (f"the plan has {len(solution.periods)} periods, the problem {problem.periods}",)
    by_id = {c.id: c for c in problem.commitments}
    committed: dict[str, int] = {}
    for j, n in solution.committed.items():
        if j not in by_id or not isinstance(n, int) or n < 0:
            out.append(f"commitment {j!r}: unknown, or count {n!r} not a whole number >= 0")
            continue
        committed[by_id[j].offering] = committed.get(by_id[j].offering, 0) + n
        cap = by_id[j].max_instances
        if cap is not None and n > cap:
            out.append(f"commitment {j!r}: {n} committed, at most {cap} may be")
    for p, fleet in enumerate(solution.periods):
        out += [f"period {p}: {v}" for v in verify_solution(_period(problem, p), fleet, tol)]
        for o, k in sorted(committed.items()):
            if fleet.instances.get(o, 0) < k:
                out.append(f"period {p}: {fleet.instances.get(o, 0)} instance(s) of {o}, {k} committed")
        for o in sorted(problem.owned_only):
            if fleet.instances.get(o, 0) > committed.get(o, 0):
                out.append(
                    f"period {p}: {fleet.instances[o]} instance(s) of {o}, only {committed.get(o, 0)} owned "
                    "(it is not rented by the hour)"
                )
    if problem.constant_fleet and any(f.instances != solution.periods[0].instances for f in solution.periods):
        out.append("constant fleet: the instances differ between periods")
    prices = {o.id: o.price_usd_per_hour for o in problem.base.offerings}
    total = math.fsum(problem.horizon_hours * by_id[j].price_usd_per_hour * n for j, n in solution.committed.items())
    for p, fleet in enumerate(solution.periods):
        before = solution.periods[p - 1].instances if (p > 0 or problem.cyclic) else committed
        grown = {o: n - before.get(o, 0) for o, n in fleet.instances.items() if n > before.get(o, 0)}
        if grown != solution.starts[p]:
            out.append(f"period {p}: starts reported {solution.starts[p]}, the growth is {grown}")
        hours = problem.period_hours
        total += math.fsum(hours * prices[o] * (n - committed.get(o, 0)) for o, n in fleet.instances.items())
        total += math.fsum(problem.start_hours.get(o, 0.0) * prices[o] * n for o, n in grown.items())
    if abs(total - solution.cost_usd) > tol * max(1.0, total):
        out.append(f"cost: reported ${solution.cost_usd:.9g}, the counts cost ${total:.9g}")
    return tuple(out)
