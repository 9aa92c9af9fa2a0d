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


def _place(c: Candidate) -> tuple[object, ...]:
    """What renting one replica of `c` means: offering, kind and shape (and a pair's two pools). Two
    candidates with the same place rent the same GPUs the same way."""
    pools = (c.prefill.id if c.prefill else None, c.decode.id if c.decode else None) if c.kind == "pair" else ()
    return (c.priced.id, c.kind, c.tp, c.pp, c.nodes, pools)


def prune(rows: Sequence[CandidateCapacity]) -> tuple[CandidateCapacity, ...]:
    """Drop candidates that serve nothing, or that another candidate on the same offering with the same
    kind and shape dominates (capacity >= on every slice): same GPUs, same price, never a worse choice. Of
    two equal rows the first one proposed stays. A pair goes with either of its pools, and a pool with
    all its pairs.

    Only candidates with the same place are compared (grouped first), so the work grows with the number
    of candidates times the few precisions and engines that share a place, not with its square."""
    alive = [r for r in rows if any(v > 0 for v in r.capacity_rps)]
    groups: dict[tuple[object, ...], list[int]] = {}
    for i, r in enumerate(alive):
        groups.setdefault(_place(r.candidate), []).append(i)
    dominated: set[int] = set()
    for members in groups.values():
        for i in members:
            caps = alive[i].capacity_rps
            for j in members:
                if j == i:
                    continue
                other = alive[j].capacity_rps
                if all(o >= v for o, v in zip(other, caps, strict=True)) and (other != caps or j < i):
                    dominated.add(i)
                    break
    kept = [r for i, r in enumerate(alive) if i not in dominated]
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
    fleet found their requests missing a percentile target: planner.simulate.slo_check); the grade says so.
    A pair `prefill>decode` takes its prefill pool's factor: its row is that pool's capacity with the KV
    transfer, and the simulation reports the prefill pool's group."""
    out = []
    for row in rows:
        f = factors.get(row.id, factors.get(row.id.split(">", 1)[0]) if ">" in row.id else None)
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
