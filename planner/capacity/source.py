"""The one interface every capacity source implements, and the values it answers with.

A source answers one question: how many requests/s does one replica of this candidate sustain on this
slice while meeting the model's latency targets? With it comes how far to trust the answer: a grade, and
an error band when the source knows one. The planner merges the answers of all sources (`merge.py`) and
never asks which one answered, except to report it.

A source may also *propose* candidates that only it can evaluate (offloaded replicas, replicas of a model
known only from exclusive measurements); the estimated source proposes the memory-feasible ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from planner.candidates import Candidate
from planner.inputs import ModelInputs
from planner.result import CapacitySourceName


@dataclass(frozen=True)
class ErrorBand:
    """Relative error of a capacity: the true value lies in [c x (1 - low), c x (1 + high)] for an answer c."""

    low: float
    high: float


@dataclass(frozen=True)
class CapacityRow:
    """One source's answer for one candidate: req/s per slice of the model, in slice order.

    None in a cell: this source has no answer for that slice (another source's answer, or 0, is used).
    0: the candidate cannot serve the slice within the targets (too slow, or beyond the context window).
    """

    capacity_rps: tuple[float | None, ...]
    grade: str  # how it was obtained: calibrated / borrowed / extrapolated (estimate), "measured", "lp" (offload)
    error_band: ErrorBand | None = None
    margin: float = 0.0  # share of the answer already held back (search.capacity_margin)


@dataclass(frozen=True)
class Answer:
    """What a source says about one model: new candidates, capacity rows by candidate id, notes."""

    candidates: tuple[Candidate, ...] = ()  # proposed by this source (evaluated in `rows`)
    rows: Mapping[str, CapacityRow] = field(default_factory=dict)  # for proposed and earlier candidates
    notes: tuple[str, ...] = ()  # what this source left out of the plan, and why (plan assumptions)


class CapacitySource(Protocol):
    """A way to obtain capacities; frozen and pure (same inputs, same answer).

    Sources are consulted in order (`sources.py`); each sees the candidates proposed before it, and where
    two answer the same cell, the later one wins.
    """

    @property
    def name(self) -> CapacitySourceName:
        """Reported as a replica group's capacity source: "estimate", "measured", "offload", ..."""
        ...

    def evaluate(self, model: ModelInputs, candidates: tuple[Candidate, ...]) -> Answer:
        """Propose candidates and answer capacities for them and for `candidates` (proposed earlier)."""
        ...
