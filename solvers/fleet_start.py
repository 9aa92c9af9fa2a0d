"""A feasible starting plan for the fleet MILP, built without a solver, handed to HiGHS as its incumbent.

Why: on realistic problems (tens of offerings, hundreds of slices, two models) HiGHS can spend its whole
time limit before its own heuristics find a plan, and then there is no plan at all; with a start it
closes the gap from above and a time limit always leaves a plan. The start changes nothing else: HiGHS
checks it against every row and drops it if it breaks one, and the optimum (and its tie-breaks) is the
MILP's, not the start's.

The candidates, each filled in the same way (every slice whole to one route, replicas rounded up to the
load at the target utilisation, min_replicas on the cheapest replica of the model, instances rounded up
to hold the GPUs), the cheapest that satisfies every row is the start:

- for each offering, the slices routed to its cheapest route on that offering (a single-offering plan;
  slices it cannot serve go to the cheapest route anywhere);
- a greedy mix: each slice to its cheapest route overall (price per GPU x GPUs per req/s).

Only the plain shape of the model is covered: instances, replicas and routes (no patterns for odd replica
sizes, no disaggregated pairs, no N+1 layouts, no replicas spanning instances); otherwise `starting_point`
returns None and HiGHS starts on its own, as before.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from solvers.fleet_milp import FleetMilp
from solvers.sparse import FloatArray
from solvers.types import FleetProblem

PLAIN = frozenset({"instances", "replicas", "route"})
ROW_TOLERANCE = 1e-7  # relative; HiGHS's own feasibility tolerance is 1e-7 absolute on scaled rows


def starting_point(problem: FleetProblem, milp: FleetMilp) -> FloatArray | None:
    """The cheapest feasible point among the candidates above, or None (none feasible, or not plain)."""
    if {b.family for b in milp.columns if b.labels} - PLAIN or (milp.nodes > 1).any() or milp.num_routes == 0:
        return None
    off_index = {o.id: k for k, o in enumerate(problem.offerings)}
    cand_off = np.array([off_index[c.offering] for c in problem.candidates], dtype=np.int64)
    tp = np.array([c.tp for c in problem.candidates], dtype=np.float64)
    price = milp.col_cost[: milp.num_offerings]
    gpu_price = price / np.maximum(milp.gpus, 1.0)
    # $ per hour of sending all of slice s down route k (fractional replicas, fractional instances)
    route_cost = milp.route_load * tp[milp.route_candidate] * gpu_price[cand_off[milp.route_candidate]]
    route_slice: npt.NDArray[np.int64] = np.asarray(milp.route_slice, dtype=np.int64)
    choices = [_cheapest(route_slice, route_cost)]
    for o in range(milp.num_offerings):
        on_o = cand_off[milp.route_candidate] == o
        if on_o.any():
            choices.append(_cheapest(route_slice, np.where(on_o, route_cost, route_cost + 1e12)))
    points: dict[bytes, FloatArray] = {}
    for chosen in choices:
        points.setdefault(chosen.tobytes(), _fill(problem, milp, chosen, cand_off, tp, gpu_price))
    # cheapest first; checking a point against every row is the costly part, so stop at the first that passes
    ranked = sorted(points.values(), key=lambda v: float(np.dot(price, v[: milp.num_offerings])))
    return next((point for point in ranked if feasible(milp, point)), None)


def _cheapest(route_slice: npt.NDArray[np.int64], route_cost: FloatArray) -> npt.NDArray[np.int64]:
    """The cheapest route of each slice that has routes (ties: the lowest route index), vectorised: the
    route columns come grouped by slice (sorted stably here in case they do not)."""
    order = np.argsort(route_slice, kind="stable")
    slices, cost = route_slice[order], route_cost[order]
    starts = np.flatnonzero(np.concatenate([[True], slices[1:] != slices[:-1]]))
    lowest = np.minimum.reduceat(cost, starts)
    counts = np.diff(np.append(starts, slices.shape[0]))
    at_min = np.flatnonzero(cost <= np.repeat(lowest, counts))
    _, first = np.unique(slices[at_min], return_index=True)
    return np.asarray(order[at_min[first]], dtype=np.int64)


def _fill(
    problem: FleetProblem,
    milp: FleetMilp,
    chosen: npt.NDArray[np.int64],
    cand_off: npt.NDArray[np.int64],
    tp: FloatArray,
    gpu_price: FloatArray,
) -> FloatArray:
    """The point routing each slice whole down its chosen route (not checked against the rows)."""
    n_off, n_cand = milp.num_offerings, milp.num_candidates
    x = np.zeros(milp.num_routes)
    x[chosen] = milp.demand
    load = np.bincount(milp.route_candidate, weights=milp.route_load * x / milp.demand, minlength=n_cand)
    u = problem.target_utilisation
    replicas = np.ceil(load / u * (1.0 + 1e-9) - 1e-12)
    replicas[load > 0] = np.maximum(replicas[load > 0], 1.0)
    model_of = np.array([c.model for c in problem.candidates], dtype=object)
    usable = milp.col_upper[n_off : n_off + n_cand] > 0
    for model, floor in sorted(problem.min_replicas.items()):
        mine = (model_of == model) & usable
        short = floor - replicas[mine].sum()
        if short > 0 and mine.any():
            per_replica = np.where(mine, tp * gpu_price[cand_off], math.inf)
            replicas[int(np.argmin(per_replica))] += short
    gpus_used = np.bincount(cand_off, weights=replicas * tp, minlength=n_off)
    instances = np.ceil(gpus_used / np.maximum(milp.gpus, 1.0) - 1e-9)
    point = np.zeros(milp.num_cols)
    point[:n_off] = instances
    point[n_off : n_off + n_cand] = replicas
    point[milp.route_offset : milp.route_offset + milp.num_routes] = x
    return point


def feasible(milp: FleetMilp, point: FloatArray) -> bool:
    """`point` is within every column bound and row (to a small relative tolerance) and integral where
    the column is integer."""
    if (point < milp.col_lower - 1e-9).any() or (point > milp.col_upper + 1e-9).any():
        return False
    ints = milp.integrality == 1
    if (np.abs(point[ints] - np.rint(point[ints])) > 1e-9).any():
        return False
    start: npt.NDArray[np.int64] = np.asarray(milp.a_start, dtype=np.int64)
    rows = np.repeat(np.arange(milp.num_rows), start[1:] - start[:-1])
    activity = np.bincount(rows, weights=milp.a_value * point[milp.a_index], minlength=milp.num_rows)
    scale = np.maximum(1.0, np.abs(activity))
    lower_ok = activity >= milp.row_lower - ROW_TOLERANCE * scale
    upper_ok = activity <= milp.row_upper + ROW_TOLERANCE * scale
    return bool(lower_ok.all() and upper_ok.all())
