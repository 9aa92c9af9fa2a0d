"""The fleet optimiser: the provably cheapest mix of GPU offerings that serves every slice within its SLOs.

Formulation (built as arrays by `solvers.model.build_model`, names `<family>_<index>`)
-------------------------------------------------------------------------------------
Sets: offerings o (price p_o, g_o GPUs per instance, spot flag, optional cap A_o), candidates c (one
replica of model m_c on tp_c GPUs of one instance of offering o_c), slices s (model m_s, rate λ_s).
κ_sc = requests/s one replica of c sustains on slice s within the SLOs (0 = cannot serve).

    instances_o  n_o ∈ ℤ≥0                       replicas_c  r_c ∈ ℤ≥0
    route_s_c    x_sc ∈ [0, 1]  only where κ_sc > 0 and m_c = m_s (no variable otherwise)

    minimise   Σ_o p_o n_o
    demand_s        Σ_c x_sc = 1
    capacity_c      Σ_s (λ_s / κ_sc) x_sc ≤ u · r_c                  (u = target utilisation)
    link_c          Σ_s x_sc ≤ S_c · r_c                              (S_c = route columns of c)
    packing_o       Σ_{c on o} tp_c r_c ≤ g_o n_o
    availability_o  n_o ≤ A_o                                          (capped offerings only)
    min_replicas_m  Σ_{c of m} r_c ≥ min_m                             (N+1 redundancy)

    spot_share      Σ_s Σ_{c on spot} λ_s x_sc ≤ share · Σ_s λ_s        (when share < 1)
    budget          Σ_o p_o n_o ≤ B

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

Only |O| + |C| variables are integer, so the MILP stays small however many slices there are. The
packing row is exact when every tp divides its instance's GPUs (power-of-two shapes); otherwise a
replica is charged g_o / floor(g_o / tp_c) GPUs, which keeps it safe.

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
Replicas are then trimmed to what the routed load needs (keeping min_replicas), which changes no cost.
Whatever is left (routing among equal plans) is decided by HiGHS, which is deterministic.

Solvers
-------
Build (`solvers.model.build_model`, numpy arrays), solve (`solvers.backend`) and extract (`_solution`)
are separate. HiGHS gets the arrays in one `passModel` call and keeps the model loaded across the
stages; CBC (through PuLP, from the same arrays) is the fallback when highspy is missing or HiGHS fails,
and `FleetSolution.solver` / `.message` say so. The time limit covers all stages; a stage-1 stop with
a feasible plan gives status "gap" with the relative MIP gap; no plan in time gives "not_solved". An
infeasible problem is diagnosed by re-solving with constraint families left out (`_diagnose`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from planner.errors import InputError, SolverError
from solvers.backend import ExtraRow, MipResult, Session, highs_available, lp_text, open_session
from solvers.model import RELAXABLE, FleetModel, FloatArray, build_model, model_names
from solvers.types import SHARE_EPS, FleetProblem, FleetSolution

SOLVERS = ("highs", "cbc")
COST_TOLERANCE = 1e-9  # relative slack of the cost row in tie-break stages
MAX_EXACT_OBJECTIVE = 2.0**31  # integer tie-break objectives stay below this bound
MAX_LISTED = 8  # ids listed in a diagnosis before "and N more"


@dataclass(frozen=True)
class _Stage1:
    result: MipResult
    values: FloatArray | None
    tie_break_note: str


def solve_fleet(
    problem: FleetProblem, *, solver: str = "highs", time_limit_s: float = 60.0, mip_gap: float = 0.0
) -> FleetSolution:
    """The cheapest fleet, or status "infeasible" with the reason. Raises SolverError only when the
    solver itself fails (after falling back from HiGHS to CBC)."""
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}; valid: {', '.join(SOLVERS)}", where="--solver")
    if not (math.isfinite(time_limit_s) and time_limit_s > 0):
        raise InputError(f"time limit must be a positive number of seconds, got {time_limit_s!r}", where="--time-limit")
    if not 0 <= mip_gap <= 1:
        raise InputError(f"MIP gap must be in [0, 1], got {mip_gap!r}", where="solver.mip_gap")
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    model = build_model(problem)

    early = _trivially_infeasible(problem, model)
    if early:
        return _infeasible(model, solver, t0, early)

    if model.num_rows == 0 or not (model.row_lower > 0).any():
        # Nothing is demanded: the empty fleet is optimal (and unique under the tie-breaks).
        return _solution(problem, model, np.zeros(model.num_cols), "optimal", 0.0, solver, t0, "nothing to serve")

    note = ""
    name = solver
    if solver == "highs" and not highs_available():
        name, note = "cbc", "highspy is not installed; solved with CBC via PuLP (fallback)"
    try:
        return _solve_with(problem, model, name, deadline, mip_gap, t0, note)
    except _BackendFailure as exc:
        if name != "highs":
            raise SolverError(f"the {name} solver failed: {exc}") from None
        note = f"HiGHS failed ({exc}); solved with CBC via PuLP (fallback)"
        try:
            return _solve_with(problem, model, "cbc", deadline, mip_gap, t0, note)
        except _BackendFailure as exc2:
            raise SolverError(f"HiGHS failed ({exc}) and the CBC fallback failed too ({exc2})") from None


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
    cap = np.asarray(problem.capacity_rps, dtype=float).reshape(len(problem.slices), len(problem.candidates))
    subs = []
    for off in problem.offerings:
        cols = [j for j, c in enumerate(problem.candidates) if c.offering == off.id]
        if not cols and problem.slices:
            continue
        sub = replace(
            problem,
            offerings=(off,),
            candidates=tuple(problem.candidates[j] for j in cols),
            capacity_rps=tuple(tuple(float(v) for v in row) for row in cap[:, cols]),
        )
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


def _single_lower_bound(sub: FleetProblem) -> float:
    """A lower bound on the cost of a one-offering problem: every slice on its cheapest candidate at the
    target utilisation (GPUs per req/s = tp / (u * capacity)), rounded up to whole instances; inf if some
    slice has no candidate. Valid for both routing modes (both relax to this)."""
    (off,) = sub.offerings
    if not sub.candidates:
        return 0.0
    cap = np.asarray(sub.capacity_rps, dtype=float).reshape(len(sub.slices), len(sub.candidates))
    tp = np.array([c.tp for c in sub.candidates], dtype=float)
    rates = np.array([s.rate_rps for s in sub.slices], dtype=float)
    with np.errstate(divide="ignore"):
        gpus_per_rps = np.where(cap > 0, tp / (sub.target_utilisation * np.where(cap > 0, cap, 1.0)), np.inf)
    need = gpus_per_rps.min(axis=1) if len(sub.slices) else np.zeros(0)
    positive = rates > 0
    if np.isinf(need[positive]).any():
        return math.inf
    gpus_needed = float((rates[positive] * need[positive]).sum())
    instances = math.ceil(gpus_needed / off.gpus_per_instance - 1e-9)
    return max(instances, 0) * off.price_usd_per_hour


def fleet_lp(problem: FleetProblem) -> str:
    """The stage-1 model in CPLEX LP format (variables and constraints named `<family>_<index>`)."""
    return lp_text(build_model(problem))


# ------------------------------------------------------------------------------------------ solving
class _BackendFailure(Exception):
    """The back-end could not load or solve the model (not an infeasibility)."""


def _open(model: FleetModel, name: str) -> Session:
    try:
        return open_session(model, name)
    except Exception as exc:  # import errors, rejected models: the caller falls back or raises
        raise _BackendFailure(f"{type(exc).__name__}: {exc}") from None


def _solve_with(
    problem: FleetProblem,
    model: FleetModel,
    name: str,
    deadline: float,
    mip_gap: float,
    t0: float,
    note: str,
) -> FleetSolution:
    session = _open(model, name)
    res = session.solve(time_limit_s=_left(deadline), mip_rel_gap=mip_gap)
    if res.status == "error":
        raise _BackendFailure(res.message)
    if res.status == "unbounded":
        raise _BackendFailure("the solver reported an unbounded fleet model (costs are >= 0; this is a bug)")
    if res.status == "infeasible":
        reasons = _diagnose(problem, model, name, deadline, mip_gap)
        return _infeasible(model, name, t0, reasons, note)
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
            variables=model.num_cols,
            constraints=model.num_rows,
            message=_join(note, msg),
        )
    values = res.values
    tie_note = ""
    if res.status == "optimal" or mip_gap > 0:
        values, tie_note = _tie_break(problem, model, session, values, deadline, mip_gap)
    else:
        tie_note = "stopped at the time limit before the tie-breaks"
    status = "optimal" if res.status == "optimal" else "gap"
    return _solution(problem, model, values, status, res.gap, name, t0, _join(note, tie_note))


def _left(deadline: float) -> float:
    return max(deadline - time.perf_counter(), 1e-3)


def _cost(model: FleetModel, values: FloatArray) -> float:
    n = np.rint(values[: model.num_offerings])
    return float(np.dot(model.col_cost[: model.num_offerings], n))


def _tie_break(
    problem: FleetProblem,
    model: FleetModel,
    session: Session,
    values: FloatArray,
    deadline: float,
    mip_gap: float,
) -> tuple[FloatArray, str]:
    """Stage 2: among plans that cost no more, fewest GPUs, then fewest instances, then offering order."""
    n_off = model.num_offerings
    price = model.col_cost[:n_off]
    cost1 = _cost(model, values)
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
    objectives: list[tuple[FloatArray, str]] = []
    rank = np.empty(n_off)
    rank[np.argsort(np.array([o.id for o in problem.offerings], dtype=object), kind="stable")] = np.arange(n_off)
    gpus = model.gpus
    if np.all(np.isfinite(ub)):
        n_ub = float(ub.sum())
        g_ub = float(np.dot(gpus, ub))
        w = n_ub + 1.0
        primary = w * gpus + 1.0  # W·GPUs + instances
        p_ub = w * g_ub + n_ub
        lex_ub = float(np.dot(rank, ub))
        if (p_ub + 1.0) * (lex_ub + 1.0) < MAX_EXACT_OBJECTIVE:
            objectives.append(((lex_ub + 1.0) * primary + rank, "fewest GPUs, then instances, then offering id"))
        elif p_ub < MAX_EXACT_OBJECTIVE:
            objectives.append((primary, "fewest GPUs, then instances"))
        else:
            objectives += [(gpus.copy(), "fewest GPUs"), (np.ones(n_off), "then instances")]
    else:
        objectives += [(gpus.copy(), "fewest GPUs"), (np.ones(n_off), "then instances")]

    session.add_row(ExtraRow(tuple(range(n_off)), tuple(float(p) for p in price), -math.inf, limit))
    finite = np.nonzero(np.isfinite(ub))[0]
    if finite.size:
        session.set_col_upper(finite.astype(np.int64), ub[finite])
    best = values.copy()
    best[: model.route_offset] = np.rint(best[: model.route_offset])
    done: list[str] = []
    for obj_n, label in objectives:
        if deadline - time.perf_counter() <= 1e-3:
            return best, _tie_note(done, f"time limit reached before '{label}'")
        cost = np.zeros(model.num_cols)
        cost[:n_off] = obj_n
        session.set_objective(cost)
        res = session.solve(time_limit_s=_left(deadline), mip_rel_gap=mip_gap, mip_abs_gap=0.99, start=best)
        if res.values is None or res.status not in ("optimal", "gap"):
            return best, _tie_note(done, f"'{label}' stage ended {res.status} ({res.message}); kept the cheaper plan")
        cand = res.values
        if _cost(model, cand) > limit:  # never trade cost for a tie-break
            return best, _tie_note(done, f"'{label}' stage result cost more; kept the stage-1 plan")
        best = cand.copy()
        best[: model.route_offset] = np.rint(best[: model.route_offset])
        value = float(np.dot(obj_n, best[:n_off]))
        session.add_row(ExtraRow(tuple(range(n_off)), tuple(float(v) for v in obj_n), -math.inf, value + 0.5))
        done.append(label if res.status == "optimal" else label + " (time limit: best found)")
    return best, _tie_note(done, "")


def _tie_note(done: Sequence[str], problem: str) -> str:
    text = "tie-breaks: " + ("; ".join(done) if done else "none")
    return text + (f"; {problem}" if problem else "")


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# ------------------------------------------------------------------------------------ extraction
def _solution(
    problem: FleetProblem,
    model: FleetModel,
    values: FloatArray,
    status: str,
    gap: float | None,
    solver: str,
    t0: float,
    message: str,
) -> FleetSolution:
    n_off, n_cand = model.num_offerings, model.num_candidates
    n = np.rint(values[:n_off]).astype(np.int64)
    r = np.rint(values[n_off : n_off + n_cand]).astype(np.int64)
    x = values[model.route_offset :].astype(np.float64)
    n_sl = len(problem.slices)
    rs, rc = model.route_slice, model.route_candidate
    if problem.mode == "whole-slice":
        x = np.rint(np.clip(x, 0.0, model.demand)) / model.demand
    else:
        x = np.clip(x, 0.0, 1.0)
        x[x < SHARE_EPS] = 0.0
        total = np.bincount(rs, weights=x, minlength=n_sl)
        x = np.where(total[rs] > 0, x / np.where(total[rs] > 0, total[rs], 1.0), 0.0)
    r = _trim_replicas(problem, model, r, x)
    if problem.mode != "whole-slice":
        # The link rows hold only within the solver's tolerances: a share of about 1e-6 can still sit on a
        # candidate whose replicas round to 0. Move it to the slice's other routes, so every route has a replica.
        x = np.where(r[rc] > 0, x, 0.0)
        total = np.bincount(rs, weights=x, minlength=n_sl)
        x = np.where(total[rs] > 0, x / np.where(total[rs] > 0, total[rs], 1.0), 0.0)
    routing: dict[str, dict[str, float]] = {}
    for j in np.nonzero(x > 0)[0].tolist():
        routing.setdefault(problem.slices[rs[j]].id, {})[problem.candidates[rc[j]].id] = float(x[j])
    routing = {s: dict(sorted(d.items())) for s, d in sorted(routing.items())}
    instances = {problem.offerings[o].id: int(n[o]) for o in range(n_off) if n[o] > 0}
    replicas = {problem.candidates[c].id: int(r[c]) for c in range(n_cand) if r[c] > 0}
    cost = float(sum(problem.offerings[o].price_usd_per_hour * int(n[o]) for o in range(n_off)))
    return FleetSolution(
        status=status,  # type: ignore[arg-type]
        cost_usd_per_hour=cost,
        instances=dict(sorted(instances.items())),
        replicas=dict(sorted(replicas.items())),
        routing=routing,
        solver=solver,
        seconds=time.perf_counter() - t0,
        gap=gap,
        variables=model.num_cols,
        constraints=model.num_rows,
        message=message,
    )


def _trim_replicas(problem: FleetProblem, model: FleetModel, r: np.ndarray, x: FloatArray) -> np.ndarray:
    """Fewest replicas that carry the routed load, but never below a model's min_replicas, and at least one
    on every candidate that carries traffic (however small its load: 1e-7 of a replica still needs a GPU).

    Only ever lowers r (so packing, which bounds r from above, still holds); cost is unchanged.
    """
    n_cand = model.num_candidates
    load = np.bincount(model.route_candidate, weights=model.route_load * x, minlength=n_cand)
    need = np.ceil(load / problem.target_utilisation - 1e-7).clip(min=0).astype(np.int64)
    carries = np.bincount(model.route_candidate, weights=(x > 0).astype(np.float64), minlength=n_cand) > 0
    need = np.where(carries, np.maximum(need, 1), need)
    trimmed: np.ndarray = np.minimum(r, need)
    for m, want in sorted(problem.min_replicas.items()):
        cands = sorted(
            (c for c in range(n_cand) if problem.candidates[c].model == m),
            key=lambda c: problem.candidates[c].id,
        )
        deficit = want - int(sum(trimmed[c] for c in cands))
        for c in cands:
            if deficit <= 0:
                break
            add = min(deficit, int(r[c] - trimmed[c]))
            trimmed[c] += add
            deficit -= add
    return trimmed


# ------------------------------------------------------------------------------------ infeasibility
def _infeasible(model: FleetModel, solver: str, t0: float, reasons: Sequence[str], note: str = "") -> FleetSolution:
    return FleetSolution(
        status="infeasible",
        cost_usd_per_hour=0.0,
        instances={},
        replicas={},
        routing={},
        solver=solver,
        seconds=time.perf_counter() - t0,
        gap=None,
        variables=model.num_cols,
        constraints=model.num_rows,
        message=_join(note, "infeasible: " + "; ".join(reasons)),
    )


def _listed(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED])
    return shown + (f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else "")


def _trivially_infeasible(problem: FleetProblem, model: FleetModel) -> list[str]:
    """Reasons visible without solving: slices nobody can serve, redundancy nobody can provide."""
    reasons = []
    if model.unservable_slices:
        ids = [problem.slices[s].id for s in model.unservable_slices]
        reasons.append(
            f"no candidate has capacity > 0 for {len(ids)} slice(s): {_listed(ids)} "
            "(every candidate of their model misses the SLO or does not fit)"
        )
    usable = {problem.candidates[c].model for c in model.usable_candidates}
    for m, want in sorted(problem.min_replicas.items()):
        if want > 0 and m not in usable:
            reasons.append(f"model {m!r} needs min_replicas {want} but has no candidate that can serve it")
    return reasons


def _diagnose(problem: FleetProblem, model: FleetModel, name: str, deadline: float, mip_gap: float) -> list[str]:
    """Which constraint family binds: re-solve with each family left out; if none alone restores
    feasibility, pairs of families, then all of them."""
    present = [f for f in RELAXABLE if len(model.rows_of(f))]
    rounds: list[list[tuple[str, ...]]] = [[(f,) for f in present]]
    rounds.append([(a, b) for i, a in enumerate(present) for b in present[i + 1 :]])
    if len(present) > 2:
        rounds.append([tuple(present)])
    for combos in rounds:
        found: list[str] = []
        for combo in combos:
            if time.perf_counter() >= deadline:
                break
            relaxed = build_model(problem, drop=frozenset(combo))
            try:
                res = _open(relaxed, name).solve(time_limit_s=_left(deadline), mip_rel_gap=mip_gap)
            except _BackendFailure:
                continue
            if res.status in ("optimal", "gap") and res.values is not None:
                found.append(_explain(problem, relaxed, combo, res.values))
        if found:
            return found
    return [
        "the constraints conflict in a way no relaxation resolves within the time limit "
        f"(tried leaving out {', '.join(present) or 'nothing: no optional constraint is set'})"
    ]


def _explain(problem: FleetProblem, model: FleetModel, combo: tuple[str, ...], values: FloatArray) -> str:
    n = np.rint(values[: model.num_offerings]).astype(np.int64)
    cost = float(sum(o.price_usd_per_hour * int(k) for o, k in zip(problem.offerings, n, strict=True)))
    parts = []
    for fam in combo:
        if fam == "availability":
            over = [
                f"{k} x {o.id} (available {o.available})"
                for o, k in zip(problem.offerings, n, strict=True)
                if o.available is not None and k > o.available
            ]
            parts.append("availability caps bind: without them the cheapest plan needs " + _listed(over))
        elif fam == "budget":
            parts.append(
                f"the budget binds: the cheapest plan costs ${cost:.4g}/h, over the budget of "
                f"${problem.budget_usd_per_hour:.4g}/h"
            )
        elif fam == "spot_share":
            parts.append(
                f"the spot share limit binds: without it the cheapest plan serves more than "
                f"{problem.max_spot_share:.0%} of the traffic on spot"
            )
        elif fam == "min_replicas":
            wanted = ", ".join(f"{m}: {v}" for m, v in sorted(problem.min_replicas.items()) if v > 0)
            parts.append(f"minimum replicas bind ({wanted}): they cannot be placed within the other limits")
    if len(combo) > 1:
        return "together, " + " and ".join(parts) + f" (leaving out {' and '.join(combo)} costs ${cost:.4g}/h)"
    return parts[0] if parts else ""


__all__ = ["best_single_offering", "fleet_lp", "model_names", "solve_fleet"]
