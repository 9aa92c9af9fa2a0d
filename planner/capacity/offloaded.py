"""Offloaded capacity: single-GPU replicas of a batch (`offline`) model that keep weights and KV cache
partly in host RAM or on disk, evaluated by the placement LP (solvers.placement).

A request of a slice is served if the whole block it rides in finishes within its end-to-end budget
ttft_ms + output_len x tpot_ms; capacity is the block's sequences per block latency. Proposes one
candidate per offering worth offloading to (`offload_offerings`) that serves at least one slice.
Without highspy the placement LP cannot run: the plan goes on without these candidates and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.candidates import Candidate, offload_dtypes, offload_offerings
from planner.capacity.estimated import within_context
from planner.capacity.source import Answer, CapacityRow
from planner.inputs import ModelInputs
from planner.result import CapacitySourceName
from solvers.errors import PlacementInfeasible, SolverArgumentError
from solvers.placement_hosts import host_from_offering


@dataclass(frozen=True)
class OffloadedSource:
    name: CapacitySourceName = "offload"

    def evaluate(self, model: ModelInputs, candidates: tuple[Candidate, ...]) -> Answer:
        if not model.spec.offline or model.exclusive or model.arch is None:
            return Answer()
        try:  # the placement LP needs highspy; without it the plan goes on without offloading
            from solvers.placement import offload_capacity
        except ImportError as exc:
            note = f"{model.label}: offloaded candidates not considered ({exc}; the placement LP needs highspy)"
            return Answer(notes=(note,))
        arch, slo = model.arch, model.spec.slo
        weights, kv = offload_dtypes(model.search)
        own: list[Candidate] = []
        rows: dict[str, CapacityRow] = {}
        for po in offload_offerings(model.catalog, arch, model.offerings, model.search):
            host = host_from_offering(po.offering, po.gpu)
            row: list[float | None] = []
            for s in model.slices:
                if not within_context(model, s.input_len, s.output_len):
                    row.append(0.0)
                    continue
                budget_s = (slo.ttft_ms + s.output_len * slo.tpot_ms) / 1000.0
                try:
                    res = offload_capacity(
                        arch, po.gpu, host, s.input_len, s.output_len, weights=weights, kv=kv, max_latency_s=budget_s
                    )
                    row.append(res.requests_per_s)
                except (PlacementInfeasible, SolverArgumentError):  # no placement meets the budget
                    row.append(0.0)
            if any((v or 0.0) > 0 for v in row):
                cand = Candidate(f"{model.label}@{po.id}/offload/{weights}", model.label, po, 1, None, offload=True)
                own.append(cand)
                rows[cand.id] = CapacityRow(tuple(row), "lp")
        return Answer(candidates=tuple(own), rows=rows)
