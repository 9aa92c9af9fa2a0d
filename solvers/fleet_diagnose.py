"""Why a fleet problem has no plan: reasons visible without solving, then which constraint family binds
(re-solving with families left out)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from solvers.backend import BackendFailure, open_backend
from solvers.fleet_milp import RELAXABLE, FleetMilp, build_milp
from solvers.sparse import FloatArray
from solvers.types import FleetProblem, FleetSolution

MAX_LISTED = 8  # ids listed in a diagnosis before "and N more"


def infeasible(milp: FleetMilp, solver: str, t0: float, reasons: Sequence[str], note: str = "") -> FleetSolution:
    """An infeasible solution carrying its reasons in `message` ("infeasible: ...")."""
    return FleetSolution(
        status="infeasible",
        cost_usd_per_hour=0.0,
        instances={},
        replicas={},
        routing={},
        solver=solver,
        seconds=time.perf_counter() - t0,
        gap=None,
        variables=milp.num_cols,
        constraints=milp.num_rows,
        message="; ".join(p for p in (note, "infeasible: " + "; ".join(reasons)) if p),
    )


def _listed(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:MAX_LISTED])
    return shown + (f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else "")


def trivially_infeasible(problem: FleetProblem, milp: FleetMilp) -> list[str]:
    """Reasons visible without solving: slices nobody can serve, redundancy nobody can provide."""
    reasons = []
    if milp.unservable_slices:
        ids = [problem.slices[s].id for s in milp.unservable_slices]
        reasons.append(
            f"no candidate has capacity > 0 for {len(ids)} slice(s): {_listed(ids)} "
            "(every candidate of their model misses the SLO or does not fit)"
        )
    usable = {problem.candidates[c].model for c in milp.usable_candidates}
    for m, want in sorted(problem.min_replicas.items()):
        if want > 0 and m not in usable:
            reasons.append(f"model {m!r} needs min_replicas {want} but has no candidate that can serve it")
    return reasons


def diagnose(problem: FleetProblem, milp: FleetMilp, name: str, deadline: float, mip_gap: float) -> list[str]:
    """Which constraint family binds: re-solve with each family left out; if none alone restores
    feasibility, pairs of families, then all of them."""
    present = [f for f in RELAXABLE if _present(problem, milp, f)]
    rounds: list[list[tuple[str, ...]]] = [[(f,) for f in present]]
    rounds.append([(a, b) for i, a in enumerate(present) for b in present[i + 1 :]])
    if len(present) > 2:
        rounds.append([tuple(present)])
    for combos in rounds:
        found: list[str] = []
        for combo in combos:
            if time.perf_counter() >= deadline:
                break
            relaxed = build_milp(problem, drop=frozenset(combo))
            try:
                res = open_backend(relaxed, name).solve(
                    time_limit_s=max(deadline - time.perf_counter(), 1e-3), mip_rel_gap=mip_gap
                )
            except BackendFailure:
                continue
            if res.status in ("optimal", "gap") and res.values is not None:
                found.append(_explain(problem, relaxed, combo, res.values))
        if found:
            return found
    return [
        "the constraints conflict in a way no relaxation resolves within the time limit "
        f"(tried leaving out {', '.join(present) or 'nothing: no optional constraint is set'})"
    ]


def _present(problem: FleetProblem, milp: FleetMilp, family: str) -> bool:
    if family == "redundancy":
        return bool(milp.dedicated_cols)
    return len(milp.rows_of(family)) > 0


def _explain(problem: FleetProblem, milp: FleetMilp, combo: tuple[str, ...], values: FloatArray) -> str:
    n = np.rint(values[: milp.num_offerings]).astype(np.int64)
    cost = float(sum(o.price_usd_per_hour * int(k) for o, k in zip(problem.offerings, n, strict=True)))
    parts = []
    for fam in combo:
        if fam == "availability":
            parts.append("availability caps bind: without them the cheapest plan needs " + _over_caps(problem, n))
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
        elif fam == "redundancy":
            models = ", ".join(sorted(problem.n_plus_one))
            parts.append(
                f"N+1 redundancy binds ({models}): no plan within the other limits still serves the load "
                "after losing any one instance"
            )
    if len(combo) > 1:
        return "together, " + " and ".join(parts) + f" (leaving out {' and '.join(combo)} costs ${cost:.4g}/h)"
    return parts[0] if parts else ""


def _over_caps(problem: FleetProblem, n: np.ndarray) -> str:
    """The pools whose cap the relaxed plan exceeds, with what it rents of each."""
    rented: dict[str, int] = {}
    for o, k in zip(problem.offerings, n.tolist(), strict=True):
        rented[o.pool_id] = rented.get(o.pool_id, 0) + int(k)
    over = []
    for o in problem.offerings:
        pool = o.pool_id
        if o.available is not None and pool in rented and rented[pool] > o.available:
            over.append(f"{rented.pop(pool)} x {pool} (available {o.available})")
    return _listed(over)
