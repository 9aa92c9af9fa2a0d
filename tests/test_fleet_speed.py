"""The solver's speed-ups change no answer (issue 19): the starting plan handed to HiGHS, and skipping the
tie-break stages when no other fleet can tie. (tests/test_fleet_oracle.py checks the whole solver, with
both, against brute force; these check each piece on its own.)"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import solvers.fleet as fleet
from planner.verify import verify_solution
from solvers.fleet_milp import build_milp
from solvers.fleet_start import feasible, starting_point
from solvers.fleet_ties import RoutingBound
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice, FleetSolution


def _brute_unique(
    price: list[float], gpus: list[int], fleet_: list[int], ub: list[int], lo: float, hi: float, rank: list[int] | None
) -> bool:
    """No other vector in the cost band ranks as well: no more GPUs, then no more instances, then (ranked) no
    greater rank sum."""

    def key(n: Sequence[int]) -> tuple[int, int, int]:
        ranked = 0 if rank is None else sum(r * k for r, k in zip(rank, n, strict=True))
        return sum(g * k for g, k in zip(gpus, n, strict=True)), sum(n), ranked

    for n in itertools.product(*(range(u + 1) for u in ub)):
        cost = sum(p * k for p, k in zip(price, n, strict=True))
        if list(n) != fleet_ and lo <= cost <= hi and key(n) <= key(fleet_):
            return False
    return True


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_unique_fleet_matches_brute_force(data: st.DataObject) -> None:
    k = data.draw(st.integers(1, 4))
    price = [data.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 2.49, 19.92])) for _ in range(k)]
    gpus = [data.draw(st.sampled_from([1, 2, 4, 8])) for _ in range(k)]
    ub = [data.draw(st.integers(0, 4)) for _ in range(k)]
    fleet_ = [data.draw(st.integers(0, u)) for u in ub]
    rank = data.draw(st.none() | st.permutations(list(range(k))))
    cost = sum(p * n for p, n in zip(price, fleet_, strict=True))
    lo, hi = cost - 1e-6, cost * (1 + 1e-9)
    arrays = (np.array(price), np.array(gpus, float), np.array(fleet_, float), np.array(ub, float))
    ranks = None if rank is None else np.array(rank, float)
    got = fleet.unique_fleet(*arrays, lo, hi, ranks)
    assert got == _brute_unique(price, gpus, fleet_, ub, lo, hi, rank)


def test_unique_fleet_gives_up_rather_than_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of search nodes, or an offering without a finite bound: not proven unique, so the stages run."""
    args = (np.array([1.0, 3.5]), np.array([1.0, 2.0]), np.array([3.0, 0.0]), np.array([3.0, 1.0]), 3.0, 3.0)
    assert fleet.unique_fleet(*args)  # nothing else costs $3
    monkeypatch.setattr(fleet, "TIE_SEARCH_NODES", 1)
    assert not fleet.unique_fleet(*args)
    assert not fleet.unique_fleet(args[0], args[1], args[2], np.array([np.inf, 1.0]), 3.0, 3.0)


def test_a_fleet_that_cannot_serve_is_no_alternative_and_an_unknown_one_stops_the_skip() -> None:
    """$2 as 2 x 1-GPU or as 1 x 2-GPU (fewer instances: it ranks better): the skip needs the routing check
    to rule the 2-GPU fleet out; a check out of budget (None) makes the search give up."""
    args = (np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([2.0, 0.0]), np.array([2.0, 1.0]), 2.0, 2.0)
    assert not fleet.unique_fleet(*args)
    assert fleet.unique_fleet(*args, None, lambda n: False)
    assert not fleet.unique_fleet(*args, None, lambda n: True)
    assert not fleet.unique_fleet(*args, None, lambda n: None)


def _problem(seed: int, tied: bool = True) -> FleetProblem:
    """A random problem, 1/2/4/8-GPU shapes; `tied`: with ties on purpose (per-GPU prices drawn from a few
    values), else per-GPU prices drawn from a range (the skip's case: real catalogs mix both)."""
    rng = np.random.default_rng(seed)
    offerings = []
    candidates = []
    for k in range(5):
        g = int(rng.choice([1, 2, 4, 8]))
        per_gpu = float(rng.choice([1.0, 1.5, 2.0])) if tied else round(float(rng.uniform(0.8, 2.4)), 2)
        offerings.append(FleetOffering(f"o{k}", per_gpu * g, g))
        for tp in (t for t in (1, 2, 4) if t <= g):
            candidates.append(FleetCandidate(f"o{k}-tp{tp}", f"o{k}", "m", tp))
    slices = tuple(FleetSlice(f"s{i}", "m", float(rng.uniform(0.5, 6.0))) for i in range(12))
    cap = tuple(
        tuple(float(rng.choice([0.0, 1.0, 2.0, 3.0])) * c.tp ** 0.9 if rng.random() < 0.8 else 0.0 for c in candidates)
        for _ in slices
    )
    cap = tuple(row if any(row) else (1.0, *row[1:]) for row in cap)
    return FleetProblem(tuple(offerings), tuple(candidates), slices, cap, target_utilisation=0.8,
                        min_replicas={"m": int(rng.integers(0, 3))})


@pytest.mark.parametrize(("seed", "tied"), [(s, True) for s in range(8)] + [(s, False) for s in range(8)])
def test_the_start_and_the_skip_change_no_answer(seed: int, tied: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same cost, and the same fleet (the stages' objective ranks offerings, so their fleet is unique): with
    the skip and the start, with the stages forced, and with neither."""
    p = _problem(seed, tied)
    milp = build_milp(p)
    start = starting_point(p, milp)
    assert start is not None and feasible(milp, start)
    fast = fleet.solve_fleet(p)
    assert fast.status == "optimal" and verify_solution(p, fast) == ()
    assert float(np.dot(milp.col_cost, start)) >= fast.cost_usd_per_hour - 1e-9
    monkeypatch.setattr(fleet, "unique_fleet", lambda *a: False)
    forced = fleet.solve_fleet(p)
    assert "no other fleet" not in forced.message
    monkeypatch.setattr(fleet, "starting_point", lambda *a: None)
    slow = fleet.solve_fleet(p)

    def fleet_of(sol: FleetSolution) -> dict[str, int]:
        return {o: n for o, n in sol.instances.items() if n > 0}

    for other in (forced, slow):
        assert fast.cost_usd_per_hour == pytest.approx(other.cost_usd_per_hour, abs=1e-9)
        assert fleet_of(fast) == fleet_of(other)


@pytest.mark.parametrize("seed", range(6))
def test_the_routing_bound_rules_out_only_fleets_that_cannot_serve(seed: int) -> None:
    """RoutingBound(n) False means no plan fits in n (checked: the problem with availability capped at n is
    infeasible); the optimal plan's own fleet always passes."""
    p = _problem(seed, tied=False)
    bound = RoutingBound(p, fleet.gpus_per_rps(p))
    best = fleet.solve_fleet(p)
    assert bound(np.array([best.instances.get(o.id, 0) for o in p.offerings], dtype=float))
    rng = np.random.default_rng(seed)
    ruled_out = 0
    for _ in range(16):
        n = rng.integers(0, 3, len(p.offerings))
        verdict = bound(n.astype(float))
        assert verdict is not None  # these LPs are far below the column budget
        if verdict:
            continue
        ruled_out += 1
        capped = replace(p, offerings=tuple(replace(o, available=int(k)) for o, k in zip(p.offerings, n, strict=True)))
        assert fleet.solve_fleet(capped).status == "infeasible"
    assert ruled_out > 0
