"""Candidate pruning compares only candidates that rent the same GPUs the same way (issue 19: linear in
offerings). The answer is checked against the definition, every pair compared, on random rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from catalog.loader import load_catalog
from planner.candidates import Candidate, select_offerings
from planner.capacity.merge import CandidateCapacity, prune
from planner.spec import OfferingFilter


def _by_definition(rows: Sequence[CandidateCapacity]) -> list[str]:
    """Every alive row against every other (the quadratic definition), before the pair/pool clean-up."""
    alive = [r for r in rows if any(v > 0 for v in r.capacity_rps)]

    def place(c: Candidate) -> tuple[object, ...]:
        return (c.priced.id, c.kind, c.tp, c.pp, c.nodes)

    kept = []
    for i, r in enumerate(alive):
        if not any(
            j != i
            and place(d.candidate) == place(r.candidate)
            and all(o >= v for o, v in zip(d.capacity_rps, r.capacity_rps, strict=True))
            and (d.capacity_rps != r.capacity_rps or j < i)
            for j, d in enumerate(alive)
        ):
            kept.append(r.id)
    return kept


@pytest.mark.parametrize("seed", range(6))
def test_prune_keeps_what_the_definition_keeps(seed: int) -> None:
    rng = np.random.default_rng(seed)
    offerings = select_offerings(load_catalog(()), OfferingFilter())[:8]
    rows = []
    for k in range(120):
        po = offerings[int(rng.integers(len(offerings)))]
        tp = int(rng.choice([1, 2]))
        caps = tuple(float(v) for v in rng.choice([0.0, 1.0, 2.0, 3.0], size=4, p=[0.3, 0.3, 0.2, 0.2]))
        rows.append(CandidateCapacity(Candidate(f"c{k}", "m", po, tp, None), caps, "estimate", "test"))
    rows.append(replace(rows[0], candidate=replace(rows[0].candidate, id="twin")))  # equal rows: first stays
    assert [r.id for r in prune(rows)] == _by_definition(rows)
