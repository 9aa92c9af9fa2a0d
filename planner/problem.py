"""The fleet problem of a spec: the models' candidates and capacities as the solver's plain arrays.

`build_problem` joins every model's slices (rows) and candidates (columns) into one capacity matrix
(a candidate serves only its own model's slices; other cells are 0) and carries the spec's fleet-wide
settings. `check_fleet_size` refuses loads beyond what the MILP and the verifier handle.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.candidates import Candidate, PricedOffering
from planner.capacity import ModelCapacity
from planner.errors import InputError
from planner.spec import Spec
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice

MAX_FLEET_GPUS = 1_000_000  # larger loads are refused (see check_fleet_size)


def build_problem(spec: Spec, models: Sequence[ModelCapacity]) -> tuple[FleetProblem, dict[str, Candidate]]:
    """The fleet problem, and the candidates by id (the solver knows only their ids)."""
    cands = [c for m in models for c in m.candidates]
    by_id = {c.id: c for c in cands}
    offerings: dict[str, PricedOffering] = {}
    for c in cands:
        offerings.setdefault(c.priced.id, c.priced)
    slices = [s for m in models for s in m.slices]
    col = {c.id: j for j, c in enumerate(cands)}
    matrix = [[0.0] * len(cands) for _ in slices]
    row0 = 0
    for m in models:
        for r in m.rows:
            for k, v in enumerate(r.capacity_rps):
                matrix[row0 + k][col[r.id]] = v
        row0 += len(m.slices)
    problem = FleetProblem(
        offerings=tuple(
            # pool: on-demand and spot of one catalog offering share its availability cap
            FleetOffering(
                po.id, po.price_usd_per_hour, po.offering.gpus_per_instance, po.available, po.spot, po.offering.id
            )
            for po in sorted(offerings.values(), key=lambda p: p.id)
        ),
        candidates=tuple(FleetCandidate(c.id, c.priced.id, c.model_label, c.tp) for c in cands),
        slices=tuple(FleetSlice(s.id, s.model, s.rate_rps) for s in slices),
        capacity_rps=tuple(tuple(r) for r in matrix),
        target_utilisation=spec.search.target_utilisation,
        min_replicas={m.label: m.min_replicas for m in spec.models},
        max_spot_share=spec.offerings.max_spot_share,
        budget_usd_per_hour=spec.constraints.budget_usd_per_hour,
        mode=spec.solver.mode,
        slice_factor=spec.solver.slice_factor,
        n_plus_one={m.label: m.failover_utilisation for m in spec.models if m.redundancy == "n+1"},
    )
    return problem, by_id


def min_gpus_needed(problem: FleetProblem) -> list[float]:
    """A lower bound on the GPUs each slice needs: its rate over the best capacity per GPU of any candidate
    (at the target utilisation). 0 for a slice nobody serves (reported elsewhere)."""
    tp = [c.tp for c in problem.candidates]
    out = []
    for s, row in zip(problem.slices, problem.capacity_rps, strict=True):
        best = max((v / t for v, t in zip(row, tp, strict=True) if v > 0), default=0.0)
        out.append(s.rate_rps / (problem.target_utilisation * best) if best > 0 else 0.0)
    return out


def check_fleet_size(problem: FleetProblem, models: Sequence[ModelCapacity]) -> None:
    """Refuse loads that need more than MAX_FLEET_GPUS: almost always a rate in the wrong unit, and beyond
    what the MILP's integers and the verifier handle in reasonable time."""
    per_slice = min_gpus_needed(problem)
    if sum(per_slice) <= MAX_FLEET_GPUS:
        return
    by_model: dict[str, float] = {}
    for s, g in zip(problem.slices, per_slice, strict=True):
        by_model[s.model] = by_model.get(s.model, 0.0) + g
    label, gpus = max(sorted(by_model.items()), key=lambda kv: kv[1])
    m = next(m for m in models if m.label == label)
    rate = sum(s.rate_rps for s in m.slices)
    shown = f"{gpus:,.0f}" if gpus < 1e12 else f"{gpus:.3g}"
    field = "rate_rps" if m.spec.workload.rate_rps is not None else "trace.use_trace_rate"
    raise InputError(
        f"{rate:.4g} req/s of {label} needs at least {shown} GPUs; gpuplan plans fleets of up to "
        f"{MAX_FLEET_GPUS:,} GPUs. Is the rate in requests per second?",
        where=f"{m.model.where}.workload.{field}",
    )
