"""Estimated capacity: the roofline estimator (planner.perf) with the engine profile of each GPU family.

Proposes every memory-feasible candidate (`make_candidates`) unless the model's profiles are exclusive,
and answers every candidate that has a deployment and is not offloaded. Offerings that share a GPU type
give identical replicas, so each (GPU, tp, dtypes) configuration is estimated once.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.candidates import Candidate, make_candidates
from planner.capacity.source import Answer, CapacityRow
from planner.inputs import ModelInputs
from planner.perf import capacity_rps_many
from planner.perf.profiles import is_calibrated
from planner.result import CapacitySourceName


def within_context(model: ModelInputs, input_len: int, output_len: int) -> bool:
    """Whether a request of these lengths fits the model's context window (always, for an unknown model).

    I + O tokens occupy I + O - 1 positions: the last generated token is never stored."""
    return model.arch is None or input_len + output_len - 1 <= model.arch.max_position


@dataclass(frozen=True)
class EstimatedSource:
    name: CapacitySourceName = "estimate"

    def evaluate(self, model: ModelInputs, candidates: tuple[Candidate, ...]) -> Answer:
        if model.exclusive or model.arch is None:
            return Answer()
        own = make_candidates(model.catalog, model.label, model.arch, model.offerings, model.search)
        slices = model.slices
        fits = [within_context(model, s.input_len, s.output_len) for s in slices]
        lengths = [(s.input_len, s.output_len) for s, ok in zip(slices, fits, strict=True) if ok]
        slo = model.spec.slo
        by_config: dict[tuple[str, int, str, str], tuple[float, ...]] = {}
        rows: dict[str, CapacityRow] = {}
        for cand in (*candidates, *own):
            dep = cand.deployment
            if dep is None or cand.offload:
                continue
            key = (dep.gpu.id, dep.tp, dep.weights, dep.kv)
            if key not in by_config:
                it = iter(capacity_rps_many(dep, lengths, slo.ttft_ms, slo.tpot_ms))
                by_config[key] = tuple(next(it) if ok else 0.0 for ok in fits)
            grade = "fitted" if is_calibrated(dep.engine) else "fallback"
            rows[cand.id] = CapacityRow(by_config[key], grade)
        return Answer(candidates=own, rows=rows)
