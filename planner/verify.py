"""An independent re-check of a fleet plan: it trusts nothing the solver computed.

Written without the solver's code or arrays (plain Python over the problem's own fields), so a bug in
the model builder, the back-end or the extraction shows up here as a violation instead of a wrong plan.
It re-derives demand, capacity, packing (by actually placing replicas on instances), availability,
minimum replicas, spot share, budget and cost.
"""

from __future__ import annotations

import math

from solvers.types import FleetProblem, FleetSolution

VERIFY_CHECKS: tuple[str, ...] = (
    "ids",
    "integrality",
    "demand",
    "routing",
    "capacity",
    "packing",
    "availability",
    "min_replicas",
    "spot_share",
    "budget",
    "cost",
)
"""What `verify_solution` checks, in order (for reports)."""


def _over(lhs: float, rhs: float, tol: float) -> bool:
    """lhs > rhs beyond a tolerance relative to the magnitudes involved."""
    return lhs > rhs + tol * max(1.0, abs(lhs), abs(rhs))


def _fits(sizes: list[int], bins: int, bin_size: int) -> bool:
    """Can replicas of these GPU counts be placed on `bins` instances of `bin_size` GPUs each?

    First-fit decreasing; exact for power-of-two sizes that divide the instance (every real shape).
    """
    free = [bin_size] * bins
    for size in sorted(sizes, reverse=True):
        for i, room in enumerate(free):
            if room >= size:
                free[i] = room - size
                break
        else:
            return False
    return True


def verify_solution(problem: FleetProblem, solution: FleetSolution, tol: float = 1e-6) -> tuple[str, ...]:
    """Every way `solution` breaks `problem`, as readable lines; empty when the plan is valid."""
    if solution.status not in ("optimal", "gap"):
        if solution.instances or solution.replicas or solution.routing:
            return (f"a plan with status {solution.status!r} must not allocate anything",)
        return ()
    out: list[str] = []
    offerings = {o.id: o for o in problem.offerings}
    candidates = {c.id: c for c in problem.candidates}
    col = {c.id: j for j, c in enumerate(problem.candidates)}

    for oid, k in sorted(solution.instances.items()):
        if oid not in offerings:
            out.append(f"ids: instances of unknown offering {oid!r}")
        if not isinstance(k, int) or k < 0:
            out.append(f"integrality: {oid} has {k!r} instances (must be an integer >= 0)")
    for cid, k in sorted(solution.replicas.items()):
        if cid not in candidates:
            out.append(f"ids: replicas of unknown candidate {cid!r}")
        if not isinstance(k, int) or k < 0:
            out.append(f"integrality: {cid} has {k!r} replicas (must be an integer >= 0)")
    if out:
        return tuple(out)
    n = {o.id: solution.instances.get(o.id, 0) for o in problem.offerings}
    r = {c.id: solution.replicas.get(c.id, 0) for c in problem.candidates}

    # Demand and routing: every slice fully routed, only to candidates of its model that can serve it.
    slice_ids = {s.id for s in problem.slices}
    for sid in sorted(set(solution.routing) - slice_ids):
        out.append(f"ids: routing names unknown slice {sid!r}")
    load = {c.id: 0.0 for c in problem.candidates}
    for i, s in enumerate(problem.slices):
        shares = solution.routing.get(s.id, {})
        total = 0.0
        for cid, share in sorted(shares.items()):
            if cid not in candidates:
                out.append(f"ids: slice {s.id} is routed to unknown candidate {cid!r}")
                continue
            if not (math.isfinite(share) and -tol <= share <= 1 + tol):
                out.append(f"routing: slice {s.id} sends share {share!r} to {cid} (must be in [0, 1])")
                continue
            total += share
            cand = candidates[cid]
            kappa = problem.capacity_rps[i][col[cid]]
            if share <= tol:
                continue
            if cand.model != s.model:
                out.append(f"routing: slice {s.id} of model {s.model} is routed to {cid}, a {cand.model} replica")
            elif kappa <= 0:
                out.append(f"routing: slice {s.id} is routed to {cid}, whose capacity for it is 0")
            else:
                load[cid] += s.rate_rps * share / kappa
            if problem.mode == "whole-slice":
                pieces = share * problem.slice_factor
                if abs(pieces - round(pieces)) > tol * max(1.0, pieces):
                    out.append(
                        f"routing: whole-slice mode sends {pieces:.6g} of {problem.slice_factor} pieces "
                        f"of slice {s.id} to {cid} (must be a whole number)"
                    )
        if abs(total - 1.0) > tol * max(1.0, total):
            out.append(f"demand: slice {s.id} is routed {total:.9g} of its traffic (must be 1)")

    # Capacity: load in replicas' worth, within the target utilisation.
    u = problem.target_utilisation
    for c in problem.candidates:
        if _over(load[c.id], u * r[c.id], tol):
            out.append(
                f"capacity: {c.id} carries {load[c.id]:.6g} replicas' worth of load on {r[c.id]} replica(s) "
                f"at target utilisation {u:g}"
            )

    # Packing: place each offering's replicas on its instances, whole replicas per instance.
    for o in problem.offerings:
        sizes: list[int] = []
        for c in problem.candidates:
            if c.offering == o.id:
                sizes += [c.tp] * r[c.id]
        if sizes and not _fits(sizes, n[o.id], o.gpus_per_instance):
            out.append(
                f"packing: {len(sizes)} replica(s) using {sum(sizes)} GPUs do not fit on {n[o.id]} x {o.id} "
                f"({o.gpus_per_instance} GPUs each)"
            )
        if o.available is not None and n[o.id] > o.available:
            out.append(f"availability: {n[o.id]} x {o.id} rented, {o.available} available")

    for m, want in sorted(problem.min_replicas.items()):
        have = sum(r[c.id] for c in problem.candidates if c.model == m)
        if have < want:
            out.append(f"min_replicas: model {m} has {have} replica(s), needs {want}")

    cost = math.fsum(o.price_usd_per_hour * n[o.id] for o in problem.offerings)
    spot_offerings = {o.id for o in problem.offerings if o.spot}
    spot_of = {c.id: c.offering in spot_offerings for c in problem.candidates}
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
