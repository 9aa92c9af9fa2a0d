"""Pruning linear in offerings (issue 19): candidate pruning compares only candidates that rent the same
GPUs the same way, and dominated offerings are found against a small front of stand-ins. Both answers
are checked against their definitions (every pair compared) on random inputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from catalog.loader import load_catalog
from planner.candidates import Candidate
from planner.capacity.merge import CandidateCapacity, prune
from planner.offerings import PricedOffering, drop_dominated, price_flagged, select_offerings
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


def _drop_by_definition(offerings: Sequence[PricedOffering], keep: set[str]) -> dict[str, str]:
    """Each offering against every kept one before it (the quadratic definition of drop_dominated)."""

    def at_least(a: PricedOffering, b: PricedOffering) -> bool:
        fields = ("cpu_mem_gb", "disk_gb", "disk_read_gb_per_s", "vcpus")
        return all(
            (getattr(a.offering, f) if getattr(a.offering, f) is not None else -1.0)
            >= (getattr(b.offering, f) if getattr(b.offering, f) is not None else -1.0)
            for f in fields
        )

    groups: dict[tuple[str, int, bool], list[PricedOffering]] = {}
    for po in offerings:
        groups.setdefault((po.gpu.id, po.offering.gpus_per_instance, po.spot), []).append(po)
    dropped: dict[str, str] = {}
    for group in groups.values():
        kept: list[PricedOffering] = []
        for po in sorted(group, key=lambda p: (p.price_usd_per_hour, price_flagged(p), p.id)):
            stand_ins = (k for k in kept if k.available is None and (price_flagged(po) or not price_flagged(k)))
            by = next((k for k in stand_ins if at_least(k, po)), None)
            if by is not None and po.id not in keep:
                dropped[po.id] = by.id
            else:
                kept.append(po)
    return dropped


@pytest.mark.parametrize("seed", range(6))
def test_drop_dominated_matches_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    real = select_offerings(load_catalog(()), OfferingFilter())[:3]
    offerings = []
    for k in range(200):
        base = real[int(rng.integers(len(real)))]
        host = {f: (None if rng.random() < 0.2 else float(rng.choice([8, 16, 32]))) for f in ("cpu_mem_gb", "vcpus")}
        flags = {"uncertain": bool(rng.random() < 0.2), "price_suspect": "odd" if rng.random() < 0.1 else ""}
        o = base.offering.model_copy(update={"id": f"x:r{k}:t", **host, **flags})
        price = float(rng.choice([1.0, 1.5, 2.0, 2.5]))
        avail = None if rng.random() < 0.8 else int(rng.integers(1, 4))
        offerings.append(replace(base, id=o.id, offering=o, price_usd_per_hour=price, available=avail))
    keep = {offerings[3].id, offerings[7].id}
    expected = _drop_by_definition(offerings, keep)
    assert len(expected) > 20 and drop_dominated(offerings, keep=keep)[1] == expected
