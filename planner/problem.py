"""The fleet problem of a spec: the models' candidates and capacities as the solver's plain arrays.

`build_problem` joins every model's slices (rows) and candidates (columns) into one capacity matrix
(a candidate serves only its own model's slices; other cells are 0) and carries the spec's fleet-wide
settings. `check_fleet_size` refuses loads beyond what the MILP and the verifier handle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from planner.candidates import Candidate
from planner.capacity import ModelCapacity
from planner.errors import InputError
from planner.offerings import PricedOffering
from planner.spec import Spec
from solvers.fleet import gpus_per_rps
from solvers.types import CandidateRole, FleetCandidate, FleetOffering, FleetPair, FleetProblem, FleetSlice

MAX_FLEET_GPUS = 1_000_000  # larger loads are refused (see check_fleet_size)


def build_problem(
    spec: Spec, models: Sequence[ModelCapacity], *, disaggregated: bool | None = None
) -> tuple[FleetProblem, dict[str, Candidate]]:
    """The fleet problem, and the candidates by id (the solver knows only their ids). Pairs (and their
    pools) enter it when `disaggregated` (default: the spec's `search.disaggregated` is true)."""
    with_pairs = spec.search.disaggregated is True if disaggregated is None else disaggregated
    every = [c for m in models for c in m.candidates]
    cands = [c for c in every if c.kind != "pair" and (with_pairs or c.kind == "aggregated")]
    pairs = [c for c in every if c.kind == "pair" and with_pairs]
    by_id = {c.id: c for c in (*cands, *pairs)}
    offerings: dict[str, PricedOffering] = {}
    for c in cands:
        offerings.setdefault(c.priced.id, c.priced)
    slices = [s for m in models for s in m.slices]
    col = {c.id: j for j, c in enumerate(cands)}
    pair_col = {c.id: j for j, c in enumerate(pairs)}
    matrix = [[0.0] * len(cands) for _ in slices]
    pair_matrix = [[0.0] * len(pairs) for _ in slices]
    row0 = 0
    for m in models:
        for r in m.rows:
            target, j = (matrix, col.get(r.id)) if r.id in col else (pair_matrix, pair_col.get(r.id))
            if j is None:
                continue
            for k, v in enumerate(r.capacity_rps):
                target[row0 + k][j] = v
        row0 += len(m.slices)
    _spot_buffer(spec.offerings.spot_buffer, cands, pairs, matrix, pair_matrix)
    problem = FleetProblem(
        offerings=tuple(
            # pool: on-demand and spot of one catalog offering share its availability cap
            FleetOffering(
                po.id, po.price_usd_per_hour, po.offering.gpus_per_instance, po.available, po.spot, po.offering.id
            )
            for po in sorted(offerings.values(), key=lambda p: p.id)
        ),
        candidates=tuple(
            # tp for the solver: GPUs one replica uses on each of its instances
            FleetCandidate(c.id, c.priced.id, c.model_label, c.gpus // c.nodes, c.nodes, _role(c.kind))
            for c in cands
        ),
        slices=tuple(FleetSlice(s.id, s.model, s.rate_rps) for s in slices),
        capacity_rps=tuple(tuple(r) for r in matrix),
        target_utilisation=spec.search.target_utilisation,
        min_replicas={m.label: m.min_replicas for m in spec.models},
        max_spot_share=spec.offerings.max_spot_share,
        budget_usd_per_hour=spec.constraints.budget_usd_per_hour,
        mode=spec.solver.mode,
        slice_factor=spec.solver.slice_factor,
        n_plus_one={m.label: m.failover_utilisation for m in spec.models if m.redundancy == "n+1"},
        pairs=tuple(
            FleetPair(q.id, q.model_label, q.prefill.id, q.decode.id)
            for q in pairs
            if q.prefill is not None and q.decode is not None
        ),
        pair_capacity_rps=tuple(tuple(r) for r in pair_matrix) if pairs else (),
    )
    return problem, by_id


def _spot_buffer(
    buffer: float,
    cands: Sequence[Candidate],
    pairs: Sequence[Candidate],
    matrix: list[list[float]],
    pair_matrix: list[list[float]],
) -> None:
    """Spot replicas count at (1 - buffer) of their capacity (offerings.spot_buffer), in place: a pair's
    capacity is its prefill pool's, so it is derated where that pool is on spot (its decode pool's own
    capacity is a candidate's)."""
    if buffer <= 0:
        return
    keep = 1.0 - buffer
    spot = [j for j, c in enumerate(cands) if c.priced.spot]
    spot_pairs = [j for j, q in enumerate(pairs) if q.prefill is not None and q.prefill.priced.spot]
    for row in matrix:
        for j in spot:
            row[j] *= keep
    for row in pair_matrix:
        for j in spot_pairs:
            row[j] *= keep


def _role(kind: str) -> CandidateRole:
    return "prefill" if kind == "prefill" else "decode" if kind == "decode" else "aggregated"


def min_gpus_needed(problem: FleetProblem) -> list[float]:
    """A lower bound on the GPUs each slice needs: its rate times the fewest GPUs per req/s of any route
    (at the target utilisation). 0 for a slice nobody serves (reported elsewhere)."""
    per = gpus_per_rps(problem)
    out = []
    for k, s in enumerate(problem.slices):
        best = float(per[k].min()) if per.shape[1] else math.inf
        out.append(s.rate_rps * best if math.isfinite(best) else 0.0)
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
