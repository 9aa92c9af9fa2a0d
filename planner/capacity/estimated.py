"""Estimated capacity: the roofline estimator (planner.perf) with the engine profile of each GPU family.

Proposes every memory-feasible candidate (`make_candidates`) unless the model's profiles are exclusive,
and answers every candidate that has a deployment and is not offloaded. Offerings that share a GPU type
give identical replicas, so each (GPU, tp, dtypes) configuration is estimated once. Each answer carries
the estimate's calibration grade and cross-validated error band (planner.perf.uncertainty), and holds
back `search.capacity_margin` of it (a fraction, or 'auto': the regime's pessimistic edge).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.candidates import Candidate, make_candidates
from planner.capacity.source import Answer, CapacityRow, ErrorBand
from planner.inputs import ModelInputs
from planner.perf import Deployment, capacity_rps_many
from planner.perf.pipeline import pipeline_capacity_rps_many
from planner.perf.uncertainty import uncertainty
from planner.result import CapacitySourceName
from planner.spec import Search


def margin_of(search: Search, auto_margin: float) -> float:
    """The share of an estimate `search.capacity_margin` holds back ('auto': the regime's own)."""
    if search.capacity_margin is None:
        return 0.0
    if search.capacity_margin == "auto":
        return auto_margin
    return float(search.capacity_margin)


def estimated_row(dep: Deployment, capacity: tuple[float, ...], search: Search) -> CapacityRow:
    """A capacity row with the estimate's grade, its cross-validated error band, and the margin applied.
    Plans serve open-loop traffic: the band of the regime's `online` rows."""
    u = uncertainty(dep, "online")
    band = ErrorBand(low=round(1.0 - u.throughput_low_factor, 4), high=round(u.p90_abs_error, 4)) if u.rows else None
    margin = round(margin_of(search, u.auto_margin), 4)
    held = tuple(v * (1.0 - margin) for v in capacity)
    return CapacityRow(held, u.grade, band, margin)


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
        notes: tuple[str, ...] = ()
        if model.spec.redundancy == "n+1" and any(c.nodes > 1 for c in own):
            # N+1 layouts are per instance; a replica spanning instances is lost with any one of them
            own = tuple(c for c in own if c.nodes == 1)
            notes = (f"{model.label}: replicas spanning instances not planned for an N+1 model",)
        slices = model.slices
        fits = [within_context(model, s.input_len, s.output_len) for s in slices]
        lengths = [(s.input_len, s.output_len) for s, ok in zip(slices, fits, strict=True) if ok]
        slo = model.spec.slo
        by_config: dict[tuple[Deployment, int, object], tuple[float, ...]] = {}
        rows: dict[str, CapacityRow] = {}
        for cand in (*candidates, *own):
            dep = cand.deployment
            if dep is None or cand.offload or cand.kind != "aggregated":
                continue
            pl = cand.pipeline
            # replicas of one shape on one GPU type are identical, except across instance networks (pp)
            key = (dep, cand.pp, pl.link if pl is not None else None)
            if key not in by_config:
                # a percentile target's value bounds the mean here (the loosest reading); the plan command then
                # simulates the fleet and tightens candidates that miss (planner/simulate/slo_check.py)
                if pl is not None:
                    caps = pipeline_capacity_rps_many(pl, lengths, slo.ttft_ms, slo.tpot_ms)
                else:
                    caps = capacity_rps_many(dep, lengths, slo.ttft_ms, slo.tpot_ms)
                it = iter(caps)
                by_config[key] = tuple(next(it) if ok else 0.0 for ok in fits)
            rows[cand.id] = estimated_row(dep, by_config[key], model.search)
        return Answer(candidates=own, rows=rows, notes=notes)
