"""An independent re-check of a fleet plan: it trusts nothing the solver computed.

Written without the solver's code or arrays (plain Python over the problem's own fields), so a bug in
the model builder, the back-end or the extraction shows up here as a violation instead of a wrong plan.
It re-derives demand, routing (no traffic to a candidate without a replica), capacity, packing (exactly,
from the number of replicas of each size on each offering), availability, minimum replicas, spot share,
budget and cost.
"""

from __future__ import annotations

import math

from solvers.types import SHARE_EPS, FleetProblem, FleetSolution

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

# Any share above SHARE_EPS routed to a candidate with no replica is a violation, whatever `tol` is:
# traffic with no GPU behind it is never a rounding error, however small its load.


def _over(lhs: float, rhs: float, tol: float) -> bool:
    """lhs > rhs beyond a tolerance relative to the magnitudes involved."""
    return lhs > rhs + tol * max(1.0, abs(lhs), abs(rhs))


def _fits(counts: dict[int, int], bins: int, bin_size: int) -> bool:
    """Can `counts[size]` replicas of each GPU size be placed whole on `bins` instances of `bin_size` GPUs?

    Exact, and works on counts, never on single replicas (a plan may hold 500,000 of them). Repeat:
    1. drop the GPUs of an instance that no mix of the sizes can use (an instance of 10 GPUs holds
       multiples of 4 and 8 on at most 8 of them);
    2. a size larger than that, or more GPUs than the instances have: no;
    3. set the smallest size aside when it divides the instance and every other size: whatever the others
       leave free on an instance is a multiple of it, so it fits iff the total fits (2.).
    Every chain of sizes that divide each other (power-of-two tp, whatever the instance) ends there:
    O(#sizes^2). Odd shapes (sizes that do not divide each other, as 3 and 4): a placement found by
    first-fit decreasing or by filling instances in bulk proves a yes; otherwise `_fits_exactly` decides.
    """
    need = {size: k for size, k in counts.items() if k > 0}
    if any(size < 1 for size in need):
        return False
    sizes = sorted(need)
    while sizes:
        step = math.gcd(*sizes)
        bin_size -= bin_size % step
        if sizes[-1] > bin_size or sum(size * need[size] for size in sizes) > bins * bin_size:
            return False
        if bin_size % sizes[0] or any(other % sizes[0] for other in sizes[1:]):
            break
        sizes.pop(0)
    if not sizes:
        return True
    rest = {size: need[size] for size in sizes}
    return (
        _first_fit_decreasing(rest, bins, bin_size)
        or _fill_in_bulk(rest, bins, bin_size)
        or _fits_exactly(rest, bins, bin_size)
    )


def _first_fit_decreasing(counts: dict[int, int], bins: int, bin_size: int) -> bool:
    """First-fit decreasing, on runs (free GPUs, instances) in instance order: first fit puts equal replicas
    on the first instance until it is full, then on the next, so a run takes floor(free / size) replicas
    per instance and splits into at most three runs. O(#sizes^2) runs in all."""
    runs: list[tuple[int, int]] = [(bin_size, bins)]
    for size in sorted(counts, reverse=True):
        left = counts[size]
        out: list[tuple[int, int]] = []
        for free, n in runs:
            per = free // size
            if left == 0 or per == 0:
                out.append((free, n))
                continue
            full = min(n, left // per)
            left -= full * per
            if full:
                out.append((free - per * size, full))
            if full < n and left:
                out.append((free - left * size, 1))
                left = 0
                full += 1
            if full < n:
                out.append((free, n - full))
        if left:
            return False
        runs = out
    return True


def _fill_in_bulk(counts: dict[int, int], bins: int, bin_size: int) -> bool:
    """Repeatedly give as many instances as the counts allow the content that places the most GPUs (larger
    replicas first on ties). A yes is a placement; a no proves nothing."""
    sizes = sorted(counts, reverse=True)
    contents = sorted(_maximal_contents(sizes, bin_size), reverse=True)
    left = [counts[size] for size in sizes]
    while any(left):
        # max keeps the first of equals, and contents are sorted with more large replicas first
        best = max(contents, key=lambda c: sum(min(k, n) * z for k, n, z in zip(c, left, sizes, strict=True)))
        times = min((n // k for k, n in zip(best, left, strict=True) if k), default=0)
        times = max(times, 1)
        bins -= times
        if bins < 0:
            return False
        left = [max(n - k * times, 0) for k, n in zip(best, left, strict=True)]
    return True


def _fits_exactly(counts: dict[int, int], bins: int, bin_size: int) -> bool:
    """Exact packing by counts, for odd shapes that the two placements above could not place.

    Fills instances one at a time with maximal contents (how many replicas of each size share an instance),
    keeping after each instance only the Pareto-minimal vectors of replicas still to place and dropping
    those whose GPUs exceed what the instances left can hold. The states are vectors below the counts, so
    the work is polynomial in the counts for a fixed instance size, but it grows fast with them: called
    on its own, 100 full 9-GPU instances of 4 + 3 + 2 take about 10 s (`_fill_in_bulk` places them at once).
    """
    sizes = sorted(counts, reverse=True)
    contents = _maximal_contents(sizes, bin_size)
    frontier = [tuple(counts[size] for size in sizes)]
    for used in range(1, bins + 1):
        room = (bins - used) * bin_size
        nxt: set[tuple[int, ...]] = set()
        for left in frontier:
            for content in contents:
                after = tuple(max(k - c, 0) for k, c in zip(left, content, strict=True))
                if not any(after):
                    return True
                if sum(k * size for k, size in zip(after, sizes, strict=True)) <= room:
                    nxt.add(after)
        frontier = _pareto_minimal(nxt)
        if not frontier:
            return False
    return False


def _maximal_contents(sizes: list[int], bin_size: int) -> list[tuple[int, ...]]:
    """Every way to fill one instance with replicas of `sizes` to which no further replica can be added."""
    out: list[tuple[int, ...]] = []

    def extend(i: int, free: int, acc: tuple[int, ...]) -> None:
        if i == len(sizes):
            if all(free < size for size in sizes):
                out.append(acc)
            return
        for k in range(free // sizes[i], -1, -1):
            extend(i + 1, free - k * sizes[i], (*acc, k))

    extend(0, bin_size, ())
    return out


def _pareto_minimal(vectors: set[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """The vectors no other one is componentwise <= to (they have no more replicas left to place), sorted."""
    kept: list[tuple[int, ...]] = []
    for v in sorted(vectors, key=lambda v: (sum(v), v)):
        if not any(all(a <= b for a, b in zip(k, v, strict=True)) for k in kept):
            kept.append(v)
    return kept


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
            if share > SHARE_EPS and r[cid] == 0:
                out.append(f"routing: {share:.3g} of slice {s.id} goes to {cid}, which has no replica")
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
        counts: dict[int, int] = {}
        for c in problem.candidates:
            if c.offering == o.id and r[c.id]:
                counts[c.tp] = counts.get(c.tp, 0) + r[c.id]
        if counts and not _fits(counts, n[o.id], o.gpus_per_instance):
            out.append(
                f"packing: {sum(counts.values())} replica(s) using {sum(t * k for t, k in counts.items())} GPUs "
                f"do not fit on {n[o.id]} x {o.id} ({o.gpus_per_instance} GPUs each)"
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
