"""Merging the sources' answers into one capacity row per candidate, and pruning useless candidates.

Cell by cell, the last source (in the order of `sources.py`) that answers wins; a cell nobody answers
is 0. A merged row reports the source that answered last in order among its cells (a measurement
overriding some estimated cells makes the row "measured"), with that source's grade and error band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from planner.candidates import Candidate
from planner.capacity.source import Answer, ErrorBand
from planner.result import CapacitySourceName


@dataclass(frozen=True)
class CandidateCapacity:
    """A candidate with its capacity (req/s per replica) on each slice of its model, and where it came from."""

    candidate: Candidate
    capacity_rps: tuple[float, ...]
    source: CapacitySourceName  # the source that answered (see the module docstring)
    grade: str
    error_band: ErrorBand | None = None
    margin: float = 0.0  # share of the estimate held back (search.capacity_margin)

    @property
    def id(self) -> str:
        return self.candidate.id


def merge(
    names: Sequence[CapacitySourceName], answers: Sequence[Answer], n_slices: int
) -> tuple[CandidateCapacity, ...]:
    """One row per proposed candidate, in the order proposed (`names[i]` is the source of `answers[i]`)."""
    candidates = [c for a in answers for c in a.candidates]
    out = []
    for cand in candidates:
        cells = [0.0] * n_slices
        last: tuple[CapacitySourceName, str, ErrorBand | None, float] | None = None
        for name, answer in zip(names, answers, strict=True):
            row = answer.rows.get(cand.id)
            if row is None:
                continue
            answered = False
            for k, value in enumerate(row.capacity_rps):
                if value is not None:
                    cells[k] = value
                    answered = True
            if answered:
                last = (name, row.grade, row.error_band, row.margin)
        if last is None:
            continue
        out.append(CandidateCapacity(cand, tuple(cells), *last))
    return tuple(out)


def _same_place(a: Candidate, b: Candidate) -> bool:
    """Two replica configurations that rent the same GPUs the same way: same offering, kind and shape."""
    return (a.priced.id, a.kind, a.tp, a.pp, a.nodes) == (b.priced.id, b.kind, b.tp, b.pp, b.nodes) and (
        a.kind != "pair" or (a.prefill, a.decode) == (b.prefill, b.decode)
    )


def prune(rows: Sequence[CandidateCapacity]) -> tuple[CandidateCapacity, ...]:
    """Drop candidates that serve nothing, or that another candidate on the same offering with the same
    kind and shape dominates (capacity >= on every slice): same GPUs, same price, never a worse choice. Of
    two equal rows the first one proposed stays. A pair goes with either of its pools, and a pool with
    all its pairs."""
    alive = [r for r in rows if any(v > 0 for v in r.capacity_rps)]
    position = {r.id: i for i, r in enumerate(rows)}
    kept: list[CandidateCapacity] = []
    for r in alive:
        c = r.candidate
        dominated = False
        for d in alive:
            if d is r or not _same_place(d.candidate, c):
                continue
            if all(o >= v for o, v in zip(d.capacity_rps, r.capacity_rps, strict=True)) and (
                d.capacity_rps != r.capacity_rps or position[d.id] < position[r.id]
            ):
                dominated = True
                break
        if not dominated:
            kept.append(r)
    ids = {r.id for r in kept}
    paired = {
        x.id for r in kept if r.candidate.kind == "pair" for x in (r.candidate.prefill, r.candidate.decode) if x
    }
    return tuple(
        r
        for r in kept
        if (r.candidate.kind not in ("prefill", "decode") or r.id in paired)
        and (
            r.candidate.kind != "pair"
            or (r.candidate.prefill is not None and r.candidate.prefill.id in ids)
            and (r.candidate.decode is not None and r.candidate.decode.id in ids)
        )
    )


def scaled(rows: tuple[CandidateCapacity, ...], factors: Mapping[str, float]) -> tuple[CandidateCapacity, ...]:
    """Rows with the capacities of the candidates in `factors` multiplied by their factor (a simulation of the
    fleet found their requests missing a percentile target: planner.simulate.slo_check); the grade says so."""
    out = []
    for row in rows:
        f = factors.get(row.id)
        if f is None or f == 1.0:
            out.append(row)
            continue
        out.append(
            replace(
                row,
                capacity_rps=tuple(v * f for v in row.capacity_rps),
                grade=f"{row.grade}, x{f:.3g} after a fleet simulation",
            )
        )
    return tuple(out)
