"""The fleet optimiser: the provably cheapest mix of GPU offerings that serves every slice within its SLOs.

Formulation (built as arrays by `solvers.fleet_milp.build_milp`, which lists every column and row)
-------------------------------------------------------------------------------------------------
In short: integer instances n_o per offering and replicas r_c per candidate, fractional routing x_sc of
each slice s to candidates c; minimise Σ_o p_o n_o subject to demand_s (every slice routed), capacity_c
(Σ_s λ_s x_sc / κ_sc ≤ u r_c), link_c (no traffic without a replica), exact packing of replicas into
instances, one availability cap per pool (on-demand and spot of one instance type together),
min_replicas_m (a floor on the replica count), spot_share (of traffic), budget, and for N+1 models
instances of their own whose loss leaves every replica group enough replicas for its traffic.

The link row says what capacity alone cannot: traffic goes only to a candidate with at least one
replica. Capacity implies it in exact arithmetic, but not within the solver's tolerances: a slice whose
load is below the feasibility tolerance (1e-6 of a replica: 0.01 req/s on a candidate that serves 11,000
req/s) could ride on r_c = 0. Since x_sc ≤ 1, S_c is a valid big-M, and as S_c ≪ 1 / (integrality
tolerance, 1e-6) a slice routed whole to c forces r_c ≥ 1; what may still sit on an r_c that rounds to 0
is a share of order S_c · 1e-6, which extraction moves to the slice's other routes. One row per
candidate, not one per route (x_sc ≤ r_c, a tighter relaxation): on bench/fleet_scaling.py --quick the
per-route rows made solves 3-8x slower, the per-candidate rows cost about as much as none (from 45 %
faster to 45 % slower per case, +4 % in all). Scaling the capacity row instead does not help: the
integrality tolerance on r_c scales with it.

A replica of a candidate that can serve none of its model's slices is never rented (r_c ≤ 0), so it
never counts towards min_replicas; a model with no slices at all may still get standby replicas.
The spot limit is a share of the traffic, not of the cost: as a cost share, renting idle on-demand
instances would "dilute" it, and losing the spot instances would still drop more traffic than allowed.

Only |O| + |C| variables are integer (plus patterns for odd replica sizes and the N+1 layout
columns), so the MILP stays small however many slices there are.

`whole-slice` mode reproduces Mélange (arXiv 2404.14527): each slice is cut into `slice_factor`
pieces of rate λ_s / slice_factor and every piece goes whole to one candidate. Pieces of a slice are
identical, so instead of one binary per (piece, candidate) the model carries route_s_c ∈ {0..F} = the
number of pieces sent to c, with demand Σ_c route_s_c = F, link Σ_s route_s_c ≤ F S_c r_c and capacity
coefficient λ_s / (F κ_sc):
the same feasible set of plans without the piece symmetry. `fractional` (the default) relaxes the
pieces, so it is never costlier.

Tie-breaks (lexicographic solves, never a weighted mix with cost)
----------------------------------------------------------------
1. minimise cost → C*.
2. add Σ_o p_o n_o ≤ C*(1 + 1e-9) and minimise the integer objective W·GPUs + instances, with
   W = (upper bound on instances) + 1, so fewer GPUs strictly dominates fewer instances; when it fits
   in 2^31 the same stage also adds, at the lowest weight, Σ_o rank(o)·n_o with offerings ranked by id
   (prefer offerings whose ids sort first). All three are integers, so the stage is solved to an
   absolute gap below 1, i.e. exactly. A stage-2 answer whose recomputed cost exceeds stage 1's by more
   than 1e-9 relative is thrown away, so a tie-break can never change the optimal cost.
Replicas are then trimmed to what the routed load needs (keeping min_replicas; N+1 replicas keep their
layout), which changes no cost. Whatever is left (routing among equal plans) is decided by HiGHS, which
is deterministic.

Solvers
-------
Build (`solvers.fleet_milp.build_milp`, numpy arrays), solve (`solvers.backend`) and extract
(`solvers.fleet_extract`) are separate. HiGHS gets the arrays in one `passModel` call and keeps the
model loaded across the stages; CBC (through PuLP, from the same arrays) is the fallback when highspy
is missing or HiGHS fails, and `FleetSolution.solver` / `.message` say so. The time limit covers all
stages; a stage-1 stop with a feasible plan gives status "gap" with the relative MIP gap; no plan in
time gives "not_solved". An infeasible problem is diagnosed by re-solving with constraint families
left out (`solvers.fleet_diagnose`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from solvers.backend import BackendFailure, ExtraRow, MipResult, Session, highs_available, lp_text, open_backend
from solvers.errors import SolverArgumentError, SolverFailure
from solvers.fleet_diagnose import diagnose, infeasible, trivially_infeasible
from solvers.fleet_extract import extract
from solvers.fleet_milp import FleetMilp, build_milp
from solvers.fleet_start import starting_point
from solvers.fleet_ties import RoutingBound
from solvers.sparse import FloatArray
from solvers.types import FleetOffering, FleetProblem, FleetSolution

SOLVERS = ("highs", "cbc")
COST_TOLERANCE = 1e-9  # relative slack of the cost row in tie-break stages
MAX_EXACT_OBJECTIVE = 2.0**31  # integer tie-break objectives stay below this bound
COST_FLOOR_SLACK = 1e-6  # below stage 1's cost by more than this (relative; plus its gap) no plan exists
TIE_SEARCH_NODES = 20_000  # the search for another fleet of the same cost gives up (and stage 2 runs) here
TIE_ROUTING_CHECKS = 50  # ... and after checking this many fleets with the routing LP (solvers.fleet_ties)


def solve_fleet(
    problem: FleetProblem, *, solver: str = "highs", time_limit_s: float = 60.0, mip_gap: float = 0.0
) -> FleetSolution:
    """The cheapest fleet, or status "infeasible" with the reason.

    Raises SolverArgumentError for an argument out of range and SolverFailure only when the solver itself
    fails (after falling back from HiGHS to CBC)."""
    if solver not in SOLVERS:
        raise SolverArgumentError("solver", f"unknown solver {solver!r}; valid: {', '.join(SOLVERS)}")
    if not (math.isfinite(time_limit_s) and time_limit_s > 0):
        raise SolverArgumentError(
            "time_limit_s", f"time limit must be a positive number of seconds, got {time_limit_s!r}"
        )
    if not 0 <= mip_gap <= 1:
        raise SolverArgumentError("mip_gap", f"MIP gap must be in [0, 1], got {mip_gap!r}")
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    milp = build_milp(problem)

    early = trivially_infeasible(problem, milp)
    if early:
        return infeasible(milp, solver, t0, early)

    if milp.num_rows == 0 or not (milp.row_lower > 0).any():
        # Nothing is demanded: the empty fleet is optimal (and unique under the tie-breaks).
        return extract(problem, milp, np.zeros(milp.num_cols), "optimal", 0.0, solver, t0, "nothing to serve")

    note = ""
    name = solver
    if solver == "highs" and not highs_available():
        name, note = "cbc", "highspy is not installed; solved with CBC via PuLP (fallback)"
    try:
        return _solve_with(problem, milp, name, deadline, mip_gap, t0, note)
    except BackendFailure as exc:
        if name != "highs":
            raise SolverFailure(f"the {name} solver failed: {exc}") from None
        note = f"HiGHS failed ({exc}); solved with CBC via PuLP (fallback)"
        try:
            return _solve_with(problem, milp, "cbc", deadline, mip_gap, t0, note)
        except BackendFailure as exc2:
            raise SolverFailure(f"HiGHS failed ({exc}) and the CBC fallback failed too ({exc2})") from None


def best_single_offering(
    problem: FleetProblem,
    *,
    solver: str = "highs",
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
    limit: int | None = None,
) -> list[tuple[str, FleetSolution]]:
    """Baselines: for each offering, the cheapest plan that uses only it (same constraints, same mode).

    Sorted cheapest first (ties: fewer GPUs, then offering id); offerings that cannot serve everything
    alone, or whose plan breaks a constraint, are left out. With `limit`, only the `limit` cheapest are
    returned, exactly: offerings are solved in order of a lower bound on their cost (`_single_lower_bound`)
    and the search stops once the limit-th cheapest plan found costs less than the next bound.
    """
    subs = []
    for off in problem.offerings:
        sub = only_candidates(problem, {c.id for c in problem.candidates if c.offering == off.id}, (off,))
        if not sub.candidates and problem.slices:
            continue
        subs.append((_single_lower_bound(sub), off.id, sub))
    subs.sort(key=lambda t: (t[0], t[1]))
    gpus = {o.id: o.gpus_per_instance for o in problem.offerings}

    def key(t: tuple[str, FleetSolution]) -> tuple[float, int, str]:
        return (t[1].cost_usd_per_hour, gpus[t[0]] * t[1].instances.get(t[0], 0), t[0])

    out: list[tuple[str, FleetSolution]] = []
    for bound, oid, sub in subs:
        if limit is not None and len(out) >= limit:
            out.sort(key=key)
            if out[limit - 1][1].cost_usd_per_hour < bound - 1e-9:
                break
        sol = solve_fleet(sub, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap)
        if sol.status in ("optimal", "gap"):
            out.append((oid, sol))
    out.sort(key=key)
    return out if limit is None else out[:limit]


def only_candidates(
    problem: FleetProblem, keep: set[str], offerings: tuple[FleetOffering, ...] | None = None
) -> FleetProblem:
    """`problem` with only the candidates in `keep` (and the pairs both of whose pools are kept), and only
    `offerings` when given (they must hold every kept candidate's offering)."""
    cols = [j for j, c in enumerate(problem.candidates) if c.id in keep]
    qs = [k for k, q in enumerate(problem.pairs) if q.prefill in keep and q.decode in keep]
    cap = np.asarray(problem.capacity_rps, dtype=float).reshape(len(problem.slices), len(problem.candidates))
    pcap = np.asarray(problem.pair_capacity_rps, dtype=float).reshape(len(problem.slices), len(problem.pairs))
    return replace(
        problem,
        offerings=problem.offerings if offerings is None else offerings,
        candidates=tuple(problem.candidates[j] for j in cols),
        capacity_rps=tuple(tuple(float(v) for v in row) for row in cap[:, cols]),
        pairs=tuple(problem.pairs[k] for k in qs),
        pair_capacity_rps=tuple(tuple(float(v) for v in row) for row in pcap[:, qs]) if qs else (),
    )


def _single_lower_bound(sub: FleetProblem) -> float:
    """A lower bound on the cost of a one-offering problem: every slice on its cheapest candidate at the
    target utilisation (GPUs per req/s = tp / (u * capacity)), rounded up to whole instances; inf if some
    slice has no candidate. Valid for both routing modes (both relax to this), and with N+1 (it only adds
    rows)."""
    (off,) = sub.offerings
    if not sub.candidates:
        return 0.0
    need = gpus_per_rps(sub).min(axis=1) if len(sub.slices) else np.zeros(0)
    rates = np.array([s.rate_rps for s in sub.slices], dtype=float)
    positive = rates > 0
    if np.isinf(need[positive]).any():
        return math.inf
    gpus_needed = float((rates[positive] * need[positive]).sum())
    instances = math.ceil(gpus_needed / off.gpus_per_instance - 1e-9)
    return max(instances, 0) * off.price_usd_per_hour


def gpus_per_rps(problem: FleetProblem) -> FloatArray:
    """[slice][route]: GPUs each req/s of the slice takes at the target utilisation on each aggregated
    candidate, then each pair (its prefill and decode GPUs); a replica spanning instances takes all their
    GPUs. inf where the route cannot serve the slice."""
    n_sl = len(problem.slices)
    gpus = {o.id: o.gpus_per_instance for o in problem.offerings}
    rented = {c.id: float(gpus[c.offering] * c.nodes if c.nodes > 1 else c.tp) for c in problem.candidates}
    cap = np.asarray(problem.capacity_rps, dtype=float).reshape(n_sl, len(problem.candidates))
    u = problem.target_utilisation
    cols = []
    index = {c.id: j for j, c in enumerate(problem.candidates)}
    with np.errstate(divide="ignore"):
        for j, c in enumerate(problem.candidates):
            ok = cap[:, j] > 0 if c.role == "aggregated" else np.zeros(n_sl, bool)
            cols.append(np.where(ok, rented[c.id] / (u * np.where(ok, cap[:, j], 1.0)), np.inf))
        pcap = np.asarray(problem.pair_capacity_rps, dtype=float).reshape(n_sl, len(problem.pairs))
        for k, q in enumerate(problem.pairs):
            dcap = cap[:, index[q.decode]]
            ok = (pcap[:, k] > 0) & (dcap > 0)
            per = rented[q.prefill] / np.where(ok, pcap[:, k], 1.0) + rented[q.decode] / np.where(ok, dcap, 1.0)
            cols.append(np.where(ok, per / u, np.inf))
    return np.stack(cols, axis=1) if cols else np.zeros((n_sl, 0))


def fleet_lp(problem: FleetProblem) -> str:
    """The stage-1 model in CPLEX LP format (variables and constraints named `<family>_<index>`)."""
    return lp_text(build_milp(problem))


# ------------------------------------------------------------------------------------------ solving
def _solve_with(
    problem: FleetProblem,
    milp: FleetMilp,
    name: str,
    deadline: float,
    mip_gap: float,
    t0: float,
    note: str,
) -> FleetSolution:
    session = open_backend(milp, name)
    # A feasible plan built without the solver (solvers.fleet_start): the incumbent from the first node on
    start = starting_point(problem, milp)
    res = session.solve(time_limit_s=_left(deadline), mip_rel_gap=mip_gap, start=start)
    if start is not None and _misreported(res, milp.col_cost):
        # HiGHS 1.16 can hand back the start with the objective (and bound) of a better point it did not
        # return (see _tie_break): solved again without the start
        session.forget_start()
        res = session.solve(time_limit_s=_left(deadline), mip_rel_gap=mip_gap)
    if res.status == "error":
        raise BackendFailure(res.message)
    if res.status == "unbounded":
        raise BackendFailure("the solver reported an unbounded fleet model (costs are >= 0; this is a bug)")
    if res.status == "infeasible":
        reasons = diagnose(problem, milp, name, deadline, mip_gap)
        return infeasible(milp, name, t0, reasons, note)
    if res.status == "not_solved" or res.values is None:
        msg = f"no feasible plan found within the time limit ({res.message})"
        return FleetSolution(
            status="not_solved",
            cost_usd_per_hour=0.0,
            instances={},
            replicas={},
            routing={},
            solver=name,
            seconds=time.perf_counter() - t0,
            gap=None,
            variables=milp.num_cols,
            constraints=milp.num_rows,
            message=_join(note, msg),
        )
    values = res.values
    tie_note = ""
    if res.status == "optimal" or mip_gap > 0:
        values, tie_note = _tie_break(problem, milp, session, values, deadline, mip_gap)
    else:
        tie_note = "stopped at the time limit before the tie-breaks"
    status = "optimal" if res.status == "optimal" else "gap"
    return extract(problem, milp, values, status, res.gap, name, t0, _join(note, tie_note))


def _left(deadline: float) -> float:
    return max(deadline - time.perf_counter(), 1e-3)


def _cost(milp: FleetMilp, values: FloatArray) -> float:
    n = np.rint(values[: milp.num_offerings])
    return float(np.dot(milp.col_cost[: milp.num_offerings], n))


def _integral(milp: FleetMilp, values: FloatArray) -> FloatArray:
    """The solver's point with its integer columns rounded (a clean warm start for the next stage)."""
    out: FloatArray = np.array(values, dtype=np.float64)
    ints = milp.integrality == 1
    out[ints] = np.rint(out[ints])
    return out


def _tie_break(
    problem: FleetProblem,
    milp: FleetMilp,
    session: Session,
    values: FloatArray,
    deadline: float,
    mip_gap: float,
) -> tuple[FloatArray, str]:
    """Stage 2: among plans that cost no more, fewest GPUs, then fewest instances, then offering order."""
    n_off = milp.num_offerings
    price = milp.col_cost[:n_off]
    cost1 = _cost(milp, values)
    limit = cost1 + COST_TOLERANCE * max(1.0, cost1)
    # Upper bound on each n_o among plans that cost <= limit.
    ub = np.full(n_off, math.inf)
    for o, off in enumerate(problem.offerings):
        if off.available is not None:
            ub[o] = off.available
        if price[o] > 0:
            ub[o] = min(ub[o], math.floor(limit / price[o] + 1e-9))
    # With one offering and a positive price, cost fixes the instance count: nothing to break.
    if n_off == 1 and price[0] > 0:
        return values, "tie-breaks: cost fixes the fleet"
    lowest = cost1 * (1.0 - mip_gap) - COST_FLOOR_SLACK * max(1.0, cost1)
    objectives, ranked = _tie_objectives(problem, milp.gpus, ub)
    fleet1 = np.rint(values[:n_off])
    rank = _offering_rank(problem) if ranked else None
    if unique_fleet(price, milp.gpus, fleet1, ub, lowest, limit, rank, _routing_bound(problem)):
        return values, "tie-breaks: no other fleet costs as little, ranks as well and can carry the traffic"

    session.add_row(ExtraRow(tuple(range(n_off)), tuple(float(p) for p in price), -math.inf, limit))
    # Valid for every stage (the stage-1 plan is feasible for each and the first minimises GPUs): no more
    # GPUs than the stage-1 plan. It tightens the stages' relaxations (each instance count is bounded too).
    gpus1 = float(np.dot(milp.gpus, np.rint(values[:n_off])))
    session.add_row(ExtraRow(tuple(range(n_off)), tuple(float(g) for g in milp.gpus), -math.inf, gpus1 + 0.5))
    finite = np.nonzero(np.isfinite(ub))[0]
    if finite.size:
        session.set_col_upper(finite.astype(np.int64), ub[finite])
    best = _integral(milp, values)
    done: list[str] = []
    for obj_n, label in objectives:
        if deadline - time.perf_counter() <= 1e-3:
            return best, _tie_note(done, f"time limit reached before '{label}'")
        cost = np.zeros(milp.num_cols)
        cost[:n_off] = obj_n
        session.set_objective(cost)
        res = session.solve(time_limit_s=_left(deadline), mip_rel_gap=mip_gap, mip_abs_gap=0.99, start=best)
        if _misreported(res, cost):
            # HiGHS 1.16 can return the MIP start as optimal with the objective of a presolved model that
            # lost part of it (reported 0 for a point worth 32; reproduced in tests/test_fleet_shapes_oracle):
            # a stage whose reported objective is not its point's is solved again from cold
            session.forget_start()
            res = session.solve(time_limit_s=_left(deadline), mip_rel_gap=mip_gap, mip_abs_gap=0.99)
        if res.values is None or res.status not in ("optimal", "gap"):
            return best, _tie_note(done, f"'{label}' stage ended {res.status} ({res.message}); kept the cheaper plan")
        cand = res.values
        if _cost(milp, cand) > limit:  # never trade cost for a tie-break
            return best, _tie_note(done, f"'{label}' stage result cost more; kept the stage-1 plan")
        best = _integral(milp, cand)
        value = float(np.dot(obj_n, best[:n_off]))
        session.add_row(ExtraRow(tuple(range(n_off)), tuple(float(v) for v in obj_n), -math.inf, value + 0.5))
        done.append(label if res.status == "optimal" else label + " (time limit: best found)")
    return best, _tie_note(done, "")


def _routing_bound(problem: FleetProblem) -> Callable[[FloatArray], bool | None] | None:
    """The routing check of candidate fleets (solvers.fleet_ties); None with pairs or without highspy."""
    if problem.pairs or not highs_available():
        return None
    built: list[RoutingBound] = []

    def routable(n: FloatArray) -> bool | None:  # built at the first fleet to check: most searches find none
        if not built:
            built.append(RoutingBound(problem, gpus_per_rps(problem)))
        return built[0](n)

    return routable


def _offering_rank(problem: FleetProblem) -> FloatArray:
    """Each offering's position in id order (0 first): the last tie-break prefers ids that sort first."""
    rank: FloatArray = np.empty(len(problem.offerings))
    order = np.argsort(np.array([o.id for o in problem.offerings], dtype=object), kind="stable")
    rank[order] = np.arange(len(problem.offerings))
    return rank


def _tie_objectives(
    problem: FleetProblem, gpus: FloatArray, ub: FloatArray
) -> tuple[list[tuple[FloatArray, str]], bool]:
    """The tie-break stages' objectives on the instance columns, and whether the offering rank is among them
    (else plans equal in GPUs and instances are left for HiGHS to choose between)."""
    n_off = len(problem.offerings)
    if not np.all(np.isfinite(ub)):
        return [(gpus.copy(), "fewest GPUs"), (np.ones(n_off), "then instances")], False
    rank = _offering_rank(problem)
    n_ub = float(ub.sum())
    g_ub = float(np.dot(gpus, ub))
    w = n_ub + 1.0
    primary = w * gpus + 1.0  # W·GPUs + instances
    p_ub = w * g_ub + n_ub
    lex_ub = float(np.dot(rank, ub))
    if (p_ub + 1.0) * (lex_ub + 1.0) < MAX_EXACT_OBJECTIVE:
        return [((lex_ub + 1.0) * primary + rank, "fewest GPUs, then instances, then offering id")], True
    if p_ub < MAX_EXACT_OBJECTIVE:
        return [(primary, "fewest GPUs, then instances")], False
    return [(gpus.copy(), "fewest GPUs"), (np.ones(n_off), "then instances")], False


def unique_fleet(
    price: FloatArray,
    gpus: FloatArray,
    fleet: FloatArray,
    ub: FloatArray,
    lowest: float,
    highest: float,
    rank: FloatArray | None = None,
    routable: Callable[[FloatArray], bool | None] | None = None,
) -> bool:
    """True when no instance vector other than `fleet` costs within [lowest, highest] and ranks as well in
    the tie-break order (no more GPUs; as many: no more instances; as many, and `rank` given: no greater
    rank sum) and, with `routable`, might carry the traffic (`routable(n)` False proves it cannot, None
    gives up: solvers.fleet_ties): then the tie-break stages can only return `fleet`, and they are skipped (exactly,
    not by a time budget).

    Every plan the tie-break stages may return costs at most `highest` (their cost row) and none costs
    below `lowest` (stage 1's proven bound); the stages minimise (GPUs, instances[, Σ rank·n]) in that
    order, exactly, from the stage-1 plan, so they end on `fleet` unless another vector is feasible and
    ranks at least as well (with `rank` None, a vector equal in GPUs and instances may be chosen instead).
    Capacity is left aside (a relaxation: if even without capacity rows no such n exists, none exists with
    them). A depth-first search over offerings, most expensive per GPU first, prunes on cost and on the GPUs
    still needed to reach `lowest`; it gives up (False: run the stages) after TIE_SEARCH_NODES nodes or
    TIE_ROUTING_CHECKS calls of `routable`, an offering without a finite bound, or a free one."""
    if not (np.isfinite(ub).all() and (price > 0).all() and (gpus > 0).all()):
        return False
    per_gpu = price / gpus
    order = np.argsort(-per_gpu, kind="stable")
    p, g, u, n_star = price[order], gpus[order], ub[order].astype(np.int64), fleet[order].astype(np.int64)
    r = np.zeros(len(p)) if rank is None else rank[order]
    per_gpu_sorted = per_gpu[order]
    gpus1, count1, rank1 = float(np.dot(gpus, fleet)), int(fleet.sum()), float(np.dot(r, n_star))
    gpu_cap = gpus1 + 1e-9
    reach = np.concatenate([np.cumsum((p * u)[::-1])[::-1], [0.0]])  # cost reachable from offering k on
    nodes = checks = 0
    path = np.zeros(len(p))  # the counts chosen so far, in search order

    def other_exists(k: int, cost: float, used: float, count: int, ranked: float, same: bool) -> bool | None:
        nonlocal nodes, checks
        if k == len(p):
            if same or cost < lowest or not _ranks_as_well((used, count, ranked), (gpus1, count1, rank1), rank):
                return False
            if routable is None:
                return True
            checks += 1
            if checks > TIE_ROUTING_CHECKS:
                return None
            vector = np.empty(len(p))
            vector[order] = path
            return routable(vector)  # False: it cannot carry the traffic, so it is no alternative; None: give up
        if cost + min(reach[k], (gpu_cap - used) * per_gpu_sorted[k]) < lowest:
            return False  # `lowest` is out of reach with the offerings and GPUs left
        # counts above what the cost band and the GPU cap leave are never tried (not even as nodes)
        top = min(int(u[k]), math.floor((highest - cost) / p[k] + 1e-9), math.floor((gpu_cap - used) / g[k]))
        # ... nor below what still reaches `lowest` with every later offering at its bound
        bottom = max(0, math.ceil((lowest - cost - reach[k + 1]) / p[k] - 1e-9))
        for n in range(top, bottom - 1, -1):
            nodes += 1  # every count tried is a node: the cap bounds the whole search
            if nodes > TIE_SEARCH_NODES:
                return None
            c, gu = cost + n * p[k], used + n * g[k]
            if c > highest or gu > gpu_cap:
                continue
            # the offerings after k are no dearer per GPU than k + 1: reaching `lowest` takes GPUs
            short = max(0.0, lowest - c)
            if short > 0 and (k + 1 == len(p) or gu + short / per_gpu_sorted[k + 1] > gpu_cap):
                continue
            path[k] = n
            found = other_exists(k + 1, c, gu, count + n, ranked + n * r[k], same and n == n_star[k])
            if found is None or found:
                return found
        return False

    return other_exists(0, 0.0, 0.0, 0, 0.0, True) is False


def _ranks_as_well(key: tuple[float, int, float], first: tuple[float, int, float], rank: FloatArray | None) -> bool:
    """(GPUs, instances, rank sum) no worse than the stage-1 fleet's in the stages' order; without a rank
    objective, equal GPUs and instances tie (the stages may pick either)."""
    if key[0] < first[0] - 0.5:
        return True
    if key[1] != first[1]:
        return key[1] < first[1]
    return rank is None or key[2] <= first[2] + 0.5


def _misreported(res: MipResult, cost: FloatArray) -> bool:
    """The back-end's objective differs from the objective of the point it returned."""
    if res.values is None or res.objective is None:
        return False
    actual = float(np.dot(cost, res.values))
    return abs(actual - res.objective) > 1e-6 * max(1.0, abs(actual))


def _tie_note(done: Sequence[str], problem: str) -> str:
    text = "tie-breaks: " + ("; ".join(done) if done else "none")
    return text + (f"; {problem}" if problem else "")


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


__all__ = ["best_single_offering", "fleet_lp", "solve_fleet"]
