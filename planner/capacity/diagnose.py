"""Why a model cannot be planned: no candidate at all, or slices no candidate serves within the targets.

Every function here returns reasons (shown in an infeasible plan); none raises. A slice beyond the
model's context window is named by the YAML path of the spec it comes from.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner.candidates import explain_no_fit
from planner.capacity.estimated import within_context
from planner.capacity.merge import CandidateCapacity
from planner.errors import InfeasibleError
from planner.inputs import ModelInputs, slice_origin
from planner.perf import predict
from planner.workload import Slice


def no_candidate(model: ModelInputs) -> str:
    """The reason a model has no candidate."""
    if model.exclusive or model.arch is None:
        return f"{model.label}: no offering matches its measured profiles"
    return explain_no_fit(model.catalog, model.label, model.arch, model.offerings, model.search)


def uncovered_slices(model: ModelInputs, rows: Sequence[CandidateCapacity]) -> tuple[str, ...]:
    """One reason per slice that no candidate serves, saying what binds."""
    reasons = []
    for k, s in enumerate(model.slices):
        if any(r.capacity_rps[k] > 0 for r in rows):
            continue
        head = (
            f"{model.label}: requests of input <= {s.input_len} and output <= {s.output_len} tokens "
            f"({s.share:.1%} of traffic"
        )
        if model.arch is not None and not within_context(model, s.input_len, s.output_len):
            reasons.append(
                f"{head}, {slice_origin(model, s)}) exceed {model.arch.id}'s context window of "
                f"{model.arch.max_position} tokens; shorten them or plan a model with a longer context"
            )
            continue
        slo = model.spec.slo
        reasons.append(
            f"{head}) cannot meet {slo.label('ttft')} {slo.ttft_ms:g} ms / {slo.label('tpot')} {slo.tpot_ms:g} ms "
            "on any candidate"
            f"{_fastest(s, rows)}; relax the SLO or allow faster GPUs"
        )
    return tuple(reasons)


def _fastest(s: Slice, rows: Sequence[CandidateCapacity]) -> str:
    """What the fastest candidate predicts for one lone request of the slice ("" if none can say)."""
    fastest: tuple[float, float, str] | None = None
    for r in rows:
        dep = r.candidate.deployment
        if dep is None:
            continue
        try:
            pt = predict(dep, s.input_len, s.output_len, concurrency=1)
        except InfeasibleError:
            continue
        if fastest is None or (pt.ttft_ms, pt.tpot_ms) < fastest[:2]:
            fastest = (pt.ttft_ms, pt.tpot_ms, r.id)
    if fastest is None:
        return ""
    return f"; the fastest candidate ({fastest[2]}) predicts TTFT {fastest[0]:.0f} ms, TPOT {fastest[1]:.1f} ms"
