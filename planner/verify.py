"""An independent re-check of a fleet plan: it trusts nothing the solver computed.

Written without the solver's code or arrays (plain Python over the problem's own fields), so a bug in
the model builder, the back-end or the extraction shows up here as a violation instead of a wrong plan.
It re-derives demand, routing (no traffic to a candidate without a replica; traffic through a
disaggregated pair loads its prefill pool at the pair's capacity and its decode pool at the pool's, and
needs a replica in both), capacity, packing (exactly, from the number of replicas of each size on each
offering, after the instances that replicas spanning instances take whole: planner.verify_packing),
availability (one cap per pool: on-demand and spot of an instance type together), minimum replicas, N+1
redundancy (layout, spread, and every replica group's load while its fullest instance is down), spot share
(a pair with a pool on spot counts), budget and cost.

The planner verifies the plan as published: `published_solution` reads the rounded numbers of a `Plan`
back, and `publishable` rounds routing shares so that the published plan still verifies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

from planner.result import Plan
from planner.verify_packing import fits
from solvers.types import SHARE_EPS, FleetCandidate, FleetPair, FleetProblem, FleetSolution, Routing

VERIFY_CHECKS: tuple[str, ...] = (
    "ids",
    "integrality",
    "demand",
    "routing",
    "capacity",
    "packing",
    "availability",
    "min_replicas",
    "redundancy",
    "spot_share",
    "budget",
    "cost",
)
"""What `verify_solution` checks, in order (for reports)."""

# Any share above SHARE_EPS routed to a candidate with no replica is a violation, whatever `tol` is:
# traffic with no GPU behind it is never a rounding error, however small its load.

PUBLISHED_DECIMALS = (6, 9, 12)
"""Decimals tried, fewest first, for the routing shares of a published plan."""


def _over(lhs: float, rhs: float, tol: float) -> bool:
    """lhs > rhs beyond a tolerance relative to the magnitudes involved."""
    return lhs > rhs + tol * max(1.0, abs(lhs), abs(rhs))


def _is_count(k: object) -> bool:
    return isinstance(k, int) and not isinstance(k, bool) and k >= 0


def _check_counts(problem: FleetProblem, solution: FleetSolution) -> list[str]:
    """ids and integrality of instances, replicas and the N+1 layout."""
    out: list[str] = []
    offerings = {o.id for o in problem.offerings}
    candidates = {c.id: c for c in problem.candidates}
    for oid, k in sorted(solution.instances.items()):
        if oid not in offerings:
            out.append(f"ids: instances of unknown offering {oid!r}")
        if not _is_count(k):
            out.append(f"integrality: {oid} has {k!r} instances (must be an integer >= 0)")
    for cid, k in sorted(solution.replicas.items()):
        if cid not in candidates:
            out.append(f"ids: replicas of unknown candidate {cid!r}")
        if not _is_count(k):
            out.append(f"integrality: {cid} has {k!r} replicas (must be an integer >= 0)")
    for cid, layout in sorted(solution.dedicated.items()):
        if cid not in candidates or candidates[cid].model not in problem.n_plus_one:
            out.append(f"ids: dedicated instances for {cid!r}, which is not a candidate of an N+1 model")
        for per, count in sorted(layout.items()):
            if not (_is_count(per) and per >= 1 and _is_count(count)):
                out.append(f"integrality: {cid} has {count!r} instance(s) of {per!r} replicas (whole numbers >= 1)")
    return out


def _check_routing(
    problem: FleetProblem, routing: Routing, replicas: Mapping[str, int], tol: float
) -> tuple[list[str], dict[str, float]]:
    """demand and routing: every slice fully routed, only to candidates of its model that can serve it and
    have a replica; returns the load on each candidate in replicas' worth."""
    out: list[str] = []
    candidates = {c.id: c for c in problem.candidates}
    col = {c.id: j for j, c in enumerate(problem.candidates)}
    pairs = {q.id: (k, q) for k, q in enumerate(problem.pairs)}
    slice_ids = {s.id for s in problem.slices}
    for sid in sorted(set(routing) - slice_ids):
        out.append(f"ids: routing names unknown slice {sid!r}")
    load = {c.id: 0.0 for c in problem.candidates}
    for i, s in enumerate(problem.slices):
        total = 0.0
        for cid, share in sorted(routing.get(s.id, {}).items()):
            if cid not in candidates and cid not in pairs:
                out.append(f"ids: slice {s.id} is routed to unknown candidate {cid!r}")
                continue
            if not (isinstance(share, float | int) and math.isfinite(share) and -tol <= share <= 1 + tol):
                out.append(f"routing: slice {s.id} sends share {share!r} to {cid} (must be in [0, 1])")
                continue
            total += share
            model, legs = _legs(problem, i, cid, candidates, col, pairs)
            if cid in candidates and candidates[cid].role != "aggregated" and share > SHARE_EPS:
                out.append(f"routing: slice {s.id} is routed to {cid}, a pool that serves only through pairs")
            for leg, _kappa in legs:
                if share > SHARE_EPS and replicas.get(leg, 0) <= 0:
                    out.append(f"routing: {share:.3g} of slice {s.id} goes to {leg}, which has no replica")
            if share <= tol:
                continue
            if model != s.model:
                out.append(f"routing: slice {s.id} of model {s.model} is routed to {cid}, a {model} replica")
                continue
            for leg, kappa in legs:
                if kappa <= 0:
                    out.append(f"routing: slice {s.id} is routed to {cid}, whose capacity for it is 0 on {leg}")
                else:
                    load[leg] += s.rate_rps * share / kappa
            pieces = share * problem.slice_factor
            if problem.mode == "whole-slice" and abs(pieces - round(pieces)) > tol * max(1.0, pieces):
                out.append(
                    f"routing: whole-slice mode sends {pieces:.6g} of {problem.slice_factor} pieces "
                    f"of slice {s.id} to {cid} (must be a whole number)"
                )
        if abs(total - 1.0) > tol * max(1.0, total):
            out.append(f"demand: slice {s.id} is routed {total:.9g} of its traffic (must be 1)")
    return out, load


def _legs(
    problem: FleetProblem,
    i: int,
    cid: str,
    candidates: Mapping[str, FleetCandidate],
    col: Mapping[str, int],
    pairs: Mapping[str, tuple[int, FleetPair]],
) -> tuple[str, list[tuple[str, float]]]:
    """(model, [(candidate that carries it, its capacity for slice i)]) of one route: a pair loads its prefill
    pool at the pair's capacity and its decode pool at its own."""
    if cid in pairs:
        k, q = pairs[cid]
        return q.model, [
            (q.prefill, problem.pair_capacity_rps[i][k]),
            (q.decode, problem.capacity_rps[i][col[q.decode]]),
        ]
    return candidates[cid].model, [(cid, problem.capacity_rps[i][col[cid]])]


def _check_capacity(
    problem: FleetProblem, load: Mapping[str, float], replicas: Mapping[str, int], tol: float
) -> list[str]:
    u = problem.target_utilisation
    return [
        f"capacity: {c.id} carries {load[c.id]:.6g} replicas' worth of load on {replicas.get(c.id, 0)} "
        f"replica(s) at target utilisation {u:g}"
        for c in problem.candidates
        if _over(load[c.id], u * replicas.get(c.id, 0), tol)
    ]


def _dedicated_instances(problem: FleetProblem, solution: FleetSolution) -> dict[str, int]:
    """Instances of each offering that N+1 layouts take for themselves."""
    offering_of = {c.id: c.offering for c in problem.candidates}
    out: dict[str, int] = {}
    for cid, layout in solution.dedicated.items():
        if cid in offering_of:
            out[offering_of[cid]] = out.get(offering_of[cid], 0) + sum(layout.values())
    return out


def _check_packing(problem: FleetProblem, solution: FleetSolution, n: Mapping[str, int]) -> list[str]:
    """Shared instances (all but the N+1 layouts') hold every other replica, whole replicas per instance."""
    out: list[str] = []
    taken = _dedicated_instances(problem, solution)
    spanning: set[str] = set()
    for c in problem.candidates:  # replicas spanning instances take theirs whole
        k = solution.replicas.get(c.id, 0)
        if c.nodes > 1 and k:
            if c.tp > next(o.gpus_per_instance for o in problem.offerings if o.id == c.offering):
                out.append(f"packing: {c.id} uses {c.tp} GPUs of each {c.offering}, more than it has")
            taken[c.offering] = taken.get(c.offering, 0) + k * c.nodes
            spanning.add(c.offering)
    for o in problem.offerings:
        shared = n[o.id] - taken.get(o.id, 0)
        if shared < 0:
            what = "replicas spanning instances" if o.id in spanning else "N+1 layouts"
            out.append(f"packing: {what} take {taken[o.id]} x {o.id} but {n[o.id]} are rented")
        counts: dict[int, int] = {}
        for c in problem.candidates:
            k = solution.replicas.get(c.id, 0)
            if c.offering == o.id and k and c.model not in problem.n_plus_one and c.nodes == 1:
                counts[c.tp] = counts.get(c.tp, 0) + k
        if counts and not fits(counts, shared, o.gpus_per_instance):
            out.append(
                f"packing: {sum(counts.values())} replica(s) using {sum(t * k for t, k in counts.items())} GPUs "
                f"do not fit on {max(shared, 0)} x {o.id} ({o.gpus_per_instance} GPUs each)"
            )
    return out


def _check_availability(problem: FleetProblem, n: Mapping[str, int]) -> list[str]:
    rented: dict[str, int] = {}
    cap: dict[str, int | None] = {}
    for o in problem.offerings:
        rented[o.pool_id] = rented.get(o.pool_id, 0) + n[o.id]
        cap[o.pool_id] = o.available
    out = []
    for pool, k in sorted(rented.items()):
        limit = cap[pool]
        if limit is not None and k > limit:
            members = [o.id for o in problem.offerings if o.pool_id == pool]
            what = pool if members == [pool] else f"{pool} ({' + '.join(members)})"
            out.append(f"availability: {k} x {what} rented, {limit} available")
    return out


def _check_redundancy(
    problem: FleetProblem, solution: FleetSolution, load: Mapping[str, float], tol: float
) -> list[str]:
    """N+1: every replica of an N+1 model sits on an instance of its own candidate (k replicas that fit),
    the model spans two instances or more, and each replica group still carries its routed traffic within
    the failover utilisation while its fullest instance is down (no traffic on a group left without one)."""
    out: list[str] = []
    gpus = {o.id: o.gpus_per_instance for o in problem.offerings}
    for m, u_m in sorted(problem.n_plus_one.items()):
        instances = 0
        for c in (c for c in problem.candidates if c.model == m):
            r = solution.replicas.get(c.id, 0)
            layout = {k: n for k, n in solution.dedicated.get(c.id, {}).items() if n > 0}
            placed = sum(per * count for per, count in layout.items())
            if placed != r:
                out.append(f"redundancy: {c.id} has {r} replica(s) but its dedicated instances hold {placed}")
            for per in sorted(layout):
                if per * c.tp > gpus[c.offering]:
                    out.append(f"redundancy: {per} replica(s) of {c.id} ({c.tp} GPUs each) do not fit one {c.offering}")
            instances += sum(layout.values())
            lost = max(layout, default=0)
            left = r - lost
            shares = [sh for s in problem.slices for cid, sh in solution.routing.get(s.id, {}).items() if cid == c.id]
            if left <= 0 and any(sh > SHARE_EPS for sh in shares):
                out.append(
                    f"redundancy: {c.id} carries traffic but keeps no replica while an instance of {lost} is down"
                )
            elif _over(load[c.id], u_m * left, tol):
                out.append(
                    f"redundancy: {c.id} carries {load[c.id]:.6g} replicas' worth of load on the {left} replica(s) "
                    f"left while an instance of {lost} is down, over the failover utilisation {u_m:g}"
                )
        traffic = sum(s.rate_rps for s in problem.slices if s.model == m)
        if (traffic > 0 or problem.min_replicas.get(m, 0) > 0) and instances < 2:
            out.append(f"redundancy: N+1 model {m} runs on {instances} instance(s); it needs 2 or more")
    return out


def verify_solution(problem: FleetProblem, solution: FleetSolution, tol: float = 1e-6) -> tuple[str, ...]:
    """Every way `solution` breaks `problem`, as readable lines; empty when the plan is valid."""
    if solution.status not in ("optimal", "gap"):
        if solution.instances or solution.replicas or solution.routing or solution.dedicated:
            return (f"a plan with status {solution.status!r} must not allocate anything",)
        return ()
    out = _check_counts(problem, solution)
    if out:
        return tuple(out)
    n = {o.id: solution.instances.get(o.id, 0) for o in problem.offerings}
    r = {c.id: solution.replicas.get(c.id, 0) for c in problem.candidates}
    bad, load = _check_routing(problem, solution.routing, r, tol)
    out += bad
    out += _check_capacity(problem, load, r, tol)
    out += _check_packing(problem, solution, n)
    out += _check_availability(problem, n)
    for m, want in sorted(problem.min_replicas.items()):
        have = sum(r[c.id] for c in problem.candidates if c.model == m)
        if have < want:
            out.append(f"min_replicas: model {m} has {have} replica(s), needs {want}")
    out += _check_redundancy(problem, solution, load, tol)

    cost = math.fsum(o.price_usd_per_hour * n[o.id] for o in problem.offerings)
    spot_offerings = {o.id for o in problem.offerings if o.spot}
    spot_of = {c.id: c.offering in spot_offerings for c in problem.candidates}
    for q in problem.pairs:  # a pair's traffic is lost with either pool
        spot_of[q.id] = spot_of.get(q.prefill, False) or spot_of.get(q.decode, False)
    total_rps = math.fsum(s.rate_rps for s in problem.slices)
    on_spot_rps = math.fsum(
        s.rate_rps * share
        for s in problem.slices
        for cid, share in solution.routing.get(s.id, {}).items()
        if spot_of.get(cid, False)
    )
    if total_rps > 0 and _over(on_spot_rps, problem.max_spot_share * total_rps, tol):
        out.append(
            f"spot_share: {on_spot_rps:.6g} of {total_rps:.6g} req/s served on spot, "
            f"over the max share {problem.max_spot_share:g}"
        )
    if problem.budget_usd_per_hour is not None and _over(cost, problem.budget_usd_per_hour, tol):
        out.append(f"budget: ${cost:.6g}/h over the budget of ${problem.budget_usd_per_hour:.6g}/h")
    if abs(cost - solution.cost_usd_per_hour) > tol * max(1.0, cost):
        out.append(f"cost: reported ${solution.cost_usd_per_hour:.9g}/h, instances cost ${cost:.9g}/h")
    return tuple(out)


# ------------------------------------------------------------------------------------- publication
def rounded_shares(shares: Mapping[str, float], decimals: int) -> dict[str, float]:
    """Shares rounded to `decimals` so that they still sum to exactly 1 in those decimals (largest
    remainder; ties to the candidate id that sorts first). Shares that round to 0 are left out."""
    scale = 10**decimals
    units = {cid: math.floor(share * scale) for cid, share in shares.items()}
    short = scale - sum(units.values())
    by_remainder = sorted(shares, key=lambda cid: (-(shares[cid] * scale - units[cid]), cid))
    for cid in by_remainder[: max(short, 0)]:
        units[cid] += 1
    return {cid: round(k / scale, decimals) for cid, k in sorted(units.items()) if k > 0}


def _rounded(routing: Routing, decimals: int) -> Routing:
    return {sid: rounded_shares(shares, decimals) for sid, shares in routing.items()}


def publishable(problem: FleetProblem, solution: FleetSolution) -> FleetSolution:
    """`solution` with every routing share rounded to the fewest of PUBLISHED_DECIMALS at which the rounded
    plan still verifies, else to full precision. (When the unrounded plan fails too, the violations are
    the solver's, and 6 decimals are published.)

    Rounding a share by 5e-7 moves 5e-7 x rate / capacity replicas' worth of load: nothing on most
    candidates, but over capacity on a replica that carries a sliver of a huge slice."""
    if solution.status not in ("optimal", "gap"):
        return solution
    exact_ok = not verify_solution(problem, solution)
    for decimals in PUBLISHED_DECIMALS:
        rounded = replace(solution, routing=_rounded(solution.routing, decimals))
        if not exact_ok or not verify_solution(problem, rounded):
            return rounded
    return solution


def published_solution(problem: FleetProblem, plan: Plan) -> FleetSolution:
    """The plan as a reader of its JSON sees it (rounded shares, published counts and cost), for
    `verify_solution`. Offerings are matched by (catalog offering = pool, spot); replica groups by id."""
    offering_ids: dict[tuple[str, bool], str] = {}
    for o in problem.offerings:
        offering_ids.setdefault((o.pool_id, o.spot), o.id)
        offering_ids.setdefault((o.id, o.spot), o.id)
    instances: dict[str, int] = {}
    replicas: dict[str, int] = {}
    dedicated: dict[str, dict[int, int]] = {}
    for a in plan.allocations:
        oid = offering_ids.get((a.offering, a.spot), a.offering)
        instances[oid] = instances.get(oid, 0) + a.instances
        for g in a.replicas:
            replicas[g.candidate] = replicas.get(g.candidate, 0) + g.replicas
            for d in g.dedicated:
                layout = dedicated.setdefault(g.candidate, {})
                layout[d.replicas_per_instance] = layout.get(d.replicas_per_instance, 0) + d.instances
    routing: Routing = {}
    for sr in plan.routing:
        for route in sr.routes:
            routing.setdefault(sr.slice, {})[route.candidate] = route.share
    return FleetSolution(
        status="gap" if plan.status == "gap" else "optimal",
        cost_usd_per_hour=plan.total_cost_usd_per_hour or 0.0,
        instances=instances,
        replicas=replicas,
        routing=routing,
        solver=plan.solver.name,
        seconds=plan.solver.seconds,
        gap=plan.solver.gap,
        variables=plan.solver.variables,
        constraints=plan.solver.constraints,
        dedicated=dedicated,
    )


def verify_published(problem: FleetProblem, plan: Plan, tol: float = 1e-6) -> tuple[str, ...]:
    """`verify_solution` of the plan exactly as published (nothing to check for an infeasible plan)."""
    if plan.status == "infeasible":
        return ()
    return verify_solution(problem, published_solution(problem, plan), tol)
