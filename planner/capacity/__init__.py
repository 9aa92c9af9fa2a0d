"""The capacity stage: for each model, its candidates and the req/s one replica of each sustains on each
slice within the model's targets, from interchangeable sources behind one interface.

    model_capacity(model: ModelInputs, sources=default_sources()) -> ModelCapacity

- `source.py`: the interface (`CapacitySource.evaluate(model, candidates) -> Answer`) and its values
  (`CapacityRow`: req/s per slice, a grade, an error band).
- `estimated.py`, `disaggregated.py` (prefill/decode pools and their pairs), `measured.py`, `offloaded.py`:
  the sources; `default_sources()` lists them in order
  (a later source overrides an earlier one cell by cell). A new source is one module with a frozen
  class that has a `name` and an `evaluate`, and one line in `default_sources`.
- `merge.py`: the merge rule and pruning of dominated candidates; `diagnose.py`: reasons for slices no
  candidate serves (never raises).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from planner.candidates import Candidate
from planner.capacity.diagnose import no_candidate, uncovered_slices
from planner.capacity.disaggregated import DisaggregatedSource
from planner.capacity.estimated import EstimatedSource
from planner.capacity.measured import MeasuredSource
from planner.capacity.merge import CandidateCapacity, merge, prune
from planner.capacity.offloaded import OffloadedSource
from planner.capacity.source import Answer, CapacityRow, CapacitySource, ErrorBand
from planner.inputs import ModelInputs
from planner.spec import ModelSpec
from planner.workload import Slice

__all__ = [
    "Answer",
    "CandidateCapacity",
    "CapacityRow",
    "CapacitySource",
    "ErrorBand",
    "ModelCapacity",
    "default_sources",
    "memoised_capacity",
    "model_capacity",
]


def default_sources() -> tuple[CapacitySource, ...]:
    """The sources in the order they are consulted: later ones override earlier ones cell by cell."""
    return (EstimatedSource(), DisaggregatedSource(), OffloadedSource(), MeasuredSource())


@dataclass(frozen=True)
class ModelCapacity:
    """One model of the spec as the optimiser sees it: candidates kept, their capacities, and what is wrong."""

    model: ModelInputs
    rows: tuple[CandidateCapacity, ...]  # kept candidates, in the order proposed
    reasons: tuple[str, ...] = ()  # why the model cannot be planned (empty: it can)
    notes: tuple[str, ...] = ()  # what was left out of this model's planning, and why

    @property
    def label(self) -> str:
        return self.model.label

    @property
    def spec(self) -> ModelSpec:
        return self.model.spec

    @property
    def slices(self) -> tuple[Slice, ...]:
        return self.model.slices

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return tuple(r.candidate for r in self.rows)


def memoised_capacity(model: ModelInputs, memo: dict[str, Any] | None) -> ModelCapacity:
    """`model_capacity`, reusing what `memo` holds for plans of the same spec at other request rates (the
    points of `gpuplan sweep --rate`); `memo` None: always worked out.

    A capacity is req/s per replica: it does not depend on the rate, and a model whose slices have the same
    lengths and shares (its rate scaled) gets the same rows. The one source that reads rates (disaggregated
    pools ranked by rate-weighted cost) ranks the same when they are all scaled alike. A model that cannot
    be planned is worked out afresh each time (its reasons may quote rates)."""
    if memo is None:
        return model_capacity(model)
    key = _rate_free_key(model)
    cached = memo.get(key)
    if isinstance(cached, ModelCapacity):
        return replace(cached, model=model)
    fresh = model_capacity(model)
    if not fresh.reasons:
        memo[key] = fresh
    return fresh


def _rate_free_key(model: ModelInputs) -> str:
    """Everything a model's capacities depend on, its request rate left out (the slices keep their shares)."""
    spec = model.spec.model_dump(mode="json")
    spec["workload"].pop("rate_rps", None)
    if isinstance(spec["workload"].get("trace"), dict):
        spec["workload"]["trace"].pop("use_trace_rate", None)
    slices = [(s.id, s.input_len, s.output_len, s.input_len_range, s.output_len_range, s.share) for s in model.slices]
    return json.dumps(
        {
            "index": model.index,
            "spec": spec,
            "arch": model.arch.id if model.arch is not None else None,
            "slices": slices,
            "points": [repr(p) for p in model.points],
            "exclusive": model.exclusive,
            "offerings": [(o.id, o.price_usd_per_hour, o.spot, o.available) for o in model.offerings],
            "search": model.search.model_dump(mode="json"),
            "dropped": model.dropped,
            "catalog": model.catalog.version,
        },
        sort_keys=True,
        default=str,
    )


def model_capacity(model: ModelInputs, sources: Sequence[CapacitySource] | None = None) -> ModelCapacity:
    """Ask every source in turn, merge their answers, prune, and say which slices nothing serves."""
    chosen = default_sources() if sources is None else tuple(sources)
    answers: list[Answer] = []
    proposed: tuple[Candidate, ...] = ()
    for source in chosen:
        answer = source.evaluate(model, proposed)
        answers.append(answer)
        proposed = (*proposed, *answer.candidates)
    notes = tuple(n for a in answers for n in a.notes)
    if not proposed:
        return ModelCapacity(model, (), (no_candidate(model),), notes)
    rows = prune(merge([s.name for s in chosen], answers, len(model.slices)))
    return ModelCapacity(model, rows, uncovered_slices(model, rows), notes)
