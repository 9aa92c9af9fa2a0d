"""From the solver's column values to a `FleetSolution`: whole counts, clean routing shares, trimmed replicas,
and for N+1 models the layout of their replicas on instances of their own."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from solvers.fleet_milp import FleetMilp
from solvers.sparse import FloatArray
from solvers.types import SHARE_EPS, FleetProblem, FleetSolution, Routing

Counts = npt.NDArray[np.int64]


def extract(
    problem: FleetProblem,
    milp: FleetMilp,
    values: FloatArray,
    status: str,
    gap: float | None,
    solver: str,
    t0: float,
    message: str,
) -> FleetSolution:
    """The plan in `values` (a solver point of `milp`), as ids and whole numbers."""
    n_off, n_cand = milp.num_offerings, milp.num_candidates
    n = np.rint(values[:n_off]).astype(np.int64)
    r = np.rint(values[n_off : n_off + n_cand]).astype(np.int64)
    x, y = _shares(problem, milp, values)
    r = _trim_replicas(problem, milp, r, x, y)
    layouts = {
        c: {k: int(round(values[col])) for k, col in ks if round(values[col]) > 0}
        for c, ks in milp.dedicated_cols.items()
    }
    left = r.copy()  # replicas a group keeps while its fullest instance is down (N+1 groups)
    for c, layout in layouts.items():
        left[c] -= max(layout, default=0)
    x, y = _off_empty(problem, milp, x, y, left)
    dedicated = {problem.candidates[c].id: layout for c, layout in layouts.items() if r[c] > 0}
    instances = {problem.offerings[o].id: int(n[o]) for o in range(n_off) if n[o] > 0}
    replicas = {problem.candidates[c].id: int(r[c]) for c in range(n_cand) if r[c] > 0}
    cost = float(sum(problem.offerings[o].price_usd_per_hour * int(n[o]) for o in range(n_off)))
    return FleetSolution(
        status=status,  # type: ignore[arg-type]
        cost_usd_per_hour=cost,
        instances=dict(sorted(instances.items())),
        replicas=dict(sorted(replicas.items())),
        routing=_routing(problem, milp, x, y),
        solver=solver,
        seconds=time.perf_counter() - t0,
        gap=gap,
        variables=milp.num_cols,
        constraints=milp.num_rows,
        message=message,
        dedicated=dict(sorted(dedicated.items())),
    )


def _shares(problem: FleetProblem, milp: FleetMilp, values: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Route and pair-route values as shares of their slice: whole pieces in whole-slice mode, else
    clipped, with sub-tolerance shares dropped and each slice renormalised to 1."""
    raw_x = values[milp.route_offset : milp.route_offset + milp.num_routes]
    raw_y = values[milp.pair_route_offset : milp.pair_route_offset + milp.num_pair_routes]
    if problem.mode == "whole-slice":
        return (
            np.rint(np.clip(raw_x, 0.0, milp.demand)) / milp.demand,
            np.rint(np.clip(raw_y, 0.0, milp.demand)) / milp.demand,
        )
    x = np.clip(raw_x.astype(np.float64), 0.0, 1.0)
    y = np.clip(raw_y.astype(np.float64), 0.0, 1.0)
    x[x < SHARE_EPS] = 0.0
    y[y < SHARE_EPS] = 0.0
    return _normalised(milp, x, y, len(problem.slices))


def _normalised(milp: FleetMilp, x: FloatArray, y: FloatArray, n_slices: int) -> tuple[FloatArray, FloatArray]:
    total = np.bincount(milp.route_slice, weights=x, minlength=n_slices) + np.bincount(
        milp.pair_route_slice, weights=y, minlength=n_slices
    )
    tx, ty = total[milp.route_slice], total[milp.pair_route_slice]
    return (
        np.where(tx > 0, x / np.where(tx > 0, tx, 1.0), 0.0),
        np.where(ty > 0, y / np.where(ty > 0, ty, 1.0), 0.0),
    )


def _off_empty(
    problem: FleetProblem, milp: FleetMilp, x: FloatArray, y: FloatArray, replicas: Counts
) -> tuple[FloatArray, FloatArray]:
    """The link rows hold only within the solver's tolerances: a share of about 1e-6 can still sit on a
    candidate whose replicas round to 0 (or, N+1, whose group keeps none while an instance is down). Move
    it to the slice's other routes, so every route has a replica (a pair route: both its pools)."""
    if problem.mode == "whole-slice":
        return x, y
    q = milp.pair_route_pair
    pair_ok = (replicas[milp.pair_prefill[q]] > 0) & (replicas[milp.pair_decode[q]] > 0)
    kept = np.where(replicas[milp.route_candidate] > 0, x, 0.0)
    return _normalised(milp, kept, np.where(pair_ok, y, 0.0), len(problem.slices))


def _routing(problem: FleetProblem, milp: FleetMilp, x: FloatArray, y: FloatArray) -> Routing:
    routing: Routing = {}
    for j in np.nonzero(x > 0)[0].tolist():
        sid, cid = problem.slices[milp.route_slice[j]].id, problem.candidates[milp.route_candidate[j]].id
        routing.setdefault(sid, {})[cid] = float(x[j])
    for j in np.nonzero(y > 0)[0].tolist():
        sid, qid = problem.slices[milp.pair_route_slice[j]].id, problem.pairs[milp.pair_route_pair[j]].id
        routing.setdefault(sid, {})[qid] = float(y[j])
    return {s: dict(sorted(d.items())) for s, d in sorted(routing.items())}


def _trim_replicas(problem: FleetProblem, milp: FleetMilp, r: Counts, x: FloatArray, y: FloatArray) -> Counts:
    """Fewest replicas that carry the routed load, but never below a model's min_replicas, and at least one
    on every candidate that carries traffic (however small its load: 1e-7 of a replica still needs a GPU).
    Replicas of N+1 models keep their count: it is tied to their dedicated instances and failover.

    Only ever lowers r (so packing, which bounds r from above, still holds); cost is unchanged.
    """
    n_cand = milp.num_candidates
    load = milp.candidate_loads(x, y)
    need = np.ceil(load / problem.target_utilisation - 1e-7).clip(min=0).astype(np.int64)
    carries = milp.candidate_loads((x > 0).astype(np.float64), (y > 0).astype(np.float64)) > 0
    need = np.where(carries, np.maximum(need, 1), need)
    for c in milp.dedicated_cols:
        need[c] = r[c]
    trimmed: Counts = np.minimum(r, need)
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
