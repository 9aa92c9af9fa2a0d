"""Offloaded capacity: single-GPU replicas of a batch (`offline`) model that keep weights and KV cache
partly in host RAM or on disk, evaluated by the placement LP (solvers.placement).

A request of a slice is served if the whole block it rides in finishes within its end-to-end budget
ttft_ms + output_len x tpot_ms; capacity is the block's sequences per block latency. Proposes one
candidate per offering worth offloading to (`offload_offerings`) that serves at least one slice.
Without highspy the placement LP cannot run: the plan goes on without these candidates and says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.types import Gpu, ModelArch, Offering
from planner.candidates import Candidate, offload_dtypes, offload_offerings
from planner.capacity.estimated import within_context
from planner.capacity.source import Answer, CapacityRow
from planner.inputs import ModelInputs
from planner.result import CapacitySourceName
from planner.spec import Search, Slo
from solvers.errors import PlacementInfeasible, SolverArgumentError
from solvers.placement_hosts import host_from_offering
from solvers.placement_result import PlacementResult


def offload_placement(
    arch: ModelArch, gpu: Gpu, offering: Offering, search: Search, slo: Slo, input_len: int, output_len: int
) -> PlacementResult | None:
    """The best placement of one request class on an offloaded single-GPU replica of `offering`, within the
    end-to-end budget ttft_ms + output_len x tpot_ms; None when no placement meets it. The simulator replays
    offloaded replicas with the same placements. Raises ImportError without highspy."""
    from solvers.placement import place  # noqa: PLC0415 - needs highspy, which a plan can do without

    weights, kv = offload_dtypes(search)
    budget_s = (slo.ttft_ms + output_len * slo.tpot_ms) / 1000.0
    try:
        return place(
            arch,
            gpu,
            host_from_offering(offering, gpu),
            input_len,
            output_len,
            weights=weights,
            kv=kv,
            max_latency_s=budget_s,
        )
    except (PlacementInfeasible, SolverArgumentError):  # no placement meets the budget
        return None


@dataclass(frozen=True)
class OffloadedSource:
    name: CapacitySourceName = "offload"

    def evaluate(self, model: ModelInputs, candidates: tuple[Candidate, ...]) -> Answer:
        if not model.spec.offline or model.exclusive or model.arch is None:
            return Answer()
        try:  # the placement LP needs highspy; without it the plan goes on without offloading
            import solvers.placement  # noqa: F401, PLC0415 - an optional dependency at plan time
        except ImportError as exc:
            note = f"{model.label}: offloaded candidates not considered ({exc}; the placement LP needs highspy)"
            return Answer(notes=(note,))
        arch, slo = model.arch, model.spec.slo
        weights, _ = offload_dtypes(model.search)
        own: list[Candidate] = []
        rows: dict[str, CapacityRow] = {}
        for po in offload_offerings(model.catalog, arch, model.offerings, model.search):
            row: list[float | None] = []
            for s in model.slices:
                placed = (
                    offload_placement(arch, po.gpu, po.offering, model.search, slo, s.input_len, s.output_len)
                    if within_context(model, s.input_len, s.output_len)
                    else None
                )
                # sequences per block over the block's latency: every request finishes with its block
                row.append(0.0 if placed is None else placed.policy.block_size / placed.cost.total_s)
            if any((v or 0.0) > 0 for v in row):
                cand = Candidate(f"{model.label}@{po.id}/offload/{weights}", model.label, po, 1, None, offload=True)
                own.append(cand)
                rows[cand.id] = CapacityRow(tuple(row), "lp")
        return Answer(candidates=tuple(own), rows=rows)
