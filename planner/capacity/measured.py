"""Measured capacity: the points of the spec's `profiles` (inline, CSV, vllm bench results).

A point answers the slices it falls in (planner.measured_profiles.match_points_to_slices) for every
candidate on its target: a GPU type or an offering, at its tp. Where a GPU-wide and an offering point
both cover a cell, the offering's wins. With `exclusive: true` the model is planned from measurements
only: this source proposes one candidate per (offering, measured target) and every cell it does not
answer is 0, even for a model the catalog does not know. Offloaded candidates are never answered here (a
serving-engine measurement says nothing about an offloading runtime), nor replicas spanning instances, nor
the pools of disaggregated pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.candidates import Candidate
from planner.capacity.source import Answer, CapacityRow
from planner.inputs import ModelInputs
from planner.measured_profiles import Target, match_points_to_slices
from planner.offerings import PricedOffering
from planner.perf import Deployment, engine_profile
from planner.result import CapacitySourceName


def target_matches(target: Target, priced: PricedOffering, tp: int) -> bool:
    """Whether a measurement on `target` applies to a replica of `tp` GPUs on `priced`."""
    if target.tp != tp:
        return False
    if target.kind == "offering":
        return priced.offering.id == target.id
    return priced.gpu.id == target.id


def _measured_candidates(model: ModelInputs, targets: list[Target]) -> tuple[Candidate, ...]:
    """Candidates for measured targets in exclusive mode (no estimate needed, the model may be unknown)."""
    search = model.search
    out: dict[str, Candidate] = {}
    for po in model.offerings:
        for target in targets:
            tp = target.tp
            cid = f"{model.label}@{po.id}/tp{tp}/measured"
            if tp > po.offering.gpus_per_instance or not target_matches(target, po, tp) or cid in out:
                continue
            dep = (
                Deployment(
                    model.arch,
                    po.gpu,
                    tp,
                    search.weights[0],
                    search.kv[0],
                    engine_profile(model.catalog, search.engine, po.gpu),
                    search.gpu_memory_utilization,
                )
                if model.arch is not None
                else None
            )
            out[cid] = Candidate(cid, model.label, po, tp, dep)
    return tuple(out.values())


@dataclass(frozen=True)
class MeasuredSource:
    name: CapacitySourceName = "measured"

    def evaluate(self, model: ModelInputs, candidates: tuple[Candidate, ...]) -> Answer:
        measured = match_points_to_slices(model.points, model.slices)  # (slice id, target) -> req/s
        targets = sorted({t for _, t in measured})
        own = _measured_candidates(model, targets) if model.exclusive else ()
        rows: dict[str, CapacityRow] = {}
        for cand in (*candidates, *own):
            if cand.offload or cand.kind != "aggregated" or cand.nodes > 1:
                continue  # a measurement of a one-instance serving replica says nothing about these
            row: list[float | None] = [None] * len(model.slices)
            for t in targets:
                if target_matches(t, cand.priced, cand.tp):
                    for k, s in enumerate(model.slices):
                        value = measured.get((s.id, t))
                        if value is not None:
                            row[k] = value
            if any(v is not None for v in row):
                rows[cand.id] = CapacityRow(tuple(row), "measured")
        return Answer(candidates=own, rows=rows)
