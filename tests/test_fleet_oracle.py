"""The fleet optimiser against a brute-force oracle, and hypothesis properties of its plans.

The oracle shares no code with solvers/: it enumerates instance counts in order of (cost, GPUs,
instances) and, for each, asks whether some replica counts that fit on those instances can carry the
traffic: by a small LP (fractional mode, solved with highspy directly) or by enumerating piece
assignments (whole-slice mode). Feasibility only grows with replicas, so it is enough to try the
replica vectors that are maximal under packing.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import replace

import highspy
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from planner.verify import verify_solution
from solvers.backend import new_highs, run_highs
from solvers.fleet import solve_fleet
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice

BOX = 7  # the oracle tries 0..BOX-1 instances per offering; generated problems never need more


# ----------------------------------------------------------------------------------------- oracle
def _lp_routable(p: FleetProblem, r: dict[str, int]) -> bool:
    """Is there x >= 0 with sum_c x_sc = 1 and sum_s rate_s x_sc / cap_sc <= u r_c? (highspy LP)"""
    pairs = [
        (i, j)
        for i, s in enumerate(p.slices)
        for j, c in enumerate(p.candidates)
        if p.capacity_rps[i][j] > 0 and c.model == s.model and r[c.id] > 0
    ]
    if any(not any(i == a for a, _ in pairs) for i in range(len(p.slices))):
        return False
    if not p.slices:
        return True
    n_s, n_c = len(p.slices), len(p.candidates)
    dense = np.zeros((n_s + n_c, len(pairs)))
    for k, (i, j) in enumerate(pairs):
        dense[i, k] = 1.0
        dense[n_s + j, k] = p.slices[i].rate_rps / p.capacity_rps[i][j]
    lo = np.concatenate([np.ones(n_s), np.full(n_c, -highspy.kHighsInf)])
    hi = np.concatenate([np.ones(n_s), [p.target_utilisation * r[c.id] for c in p.candidates]])
    spot_off = {o.id for o in p.offerings if o.spot}
    total = sum(s.rate_rps for s in p.slices)
    if p.max_spot_share < 1 and spot_off and total > 0:  # share of traffic served on spot
        row = np.zeros((1, len(pairs)))
        for k, (i, j) in enumerate(pairs):
            if p.candidates[j].offering in spot_off:
                row[0, k] = p.slices[i].rate_rps / total
        dense = np.vstack([dense, row])
        lo = np.append(lo, -highspy.kHighsInf)
        hi = np.append(hi, p.max_spot_share)
    h = new_highs()
    lp = highspy.HighsLp()
    lp.num_col_ = len(pairs)
    lp.num_row_ = dense.shape[0]
    lp.col_cost_ = np.zeros(len(pairs))
    lp.col_lower_ = np.zeros(len(pairs))
    lp.col_upper_ = np.ones(len(pairs))
    lp.row_lower_ = lo
    lp.row_upper_ = hi
    starts, index, value = [0], [], []
    for k in range(len(pairs)):
        nz = np.nonzero(dense[:, k])[0]
        index += nz.tolist()
        value += dense[nz, k].tolist()
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    h.passModel(lp)
    run_highs(h)
    status: object = h.getModelStatus()
    return status == highspy.HighsModelStatus.kOptimal


def _compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    if parts == 0:
        if total == 0:
            yield ()
        return
    for first in range(total + 1):
        for rest in _compositions(total - first, parts - 1):
            yield (first, *rest)


def _whole_routable(p: FleetProblem, r: dict[str, int]) -> bool:
    """Can each slice's slice_factor pieces go whole to candidates so that no replica is overloaded?"""
    f = p.slice_factor
    options = []
    for i, s in enumerate(p.slices):
        cols = [j for j, c in enumerate(p.candidates) if p.capacity_rps[i][j] > 0 and c.model == s.model]
        options.append([(cols, comp) for comp in _compositions(f, len(cols))])
    for choice in itertools.product(*options):
        load = [0.0] * len(p.candidates)
        for i, (cols, comp) in enumerate(choice):
            for j, k in zip(cols, comp, strict=True):
                load[j] += k * p.slices[i].rate_rps / f / p.capacity_rps[i][j]
        spot_share = _whole_spot_share(p, choice)
        if spot_share > p.max_spot_share + 1e-9:
            continue
        if all(load[j] <= p.target_utilisation * r[c.id] + 1e-9 for j, c in enumerate(p.candidates)):
            return True
    return False


def _whole_spot_share(p: FleetProblem, choice: tuple[tuple[list[int], tuple[int, ...]], ...]) -> float:
    spot_off = {o.id for o in p.offerings if o.spot}
    total = sum(s.rate_rps for s in p.slices)
    if not total:
        return 0.0
    on_spot = 0.0
    for i, (cols, comp) in enumerate(choice):
        for j, k in zip(cols, comp, strict=True):
            if p.candidates[j].offering in spot_off:
                on_spot += k * p.slices[i].rate_rps / p.slice_factor
    return on_spot / total


def _maximal_replicas(p: FleetProblem, n: dict[str, int]) -> Iterator[dict[str, int]]:
    """Replica vectors that fill each offering's GPUs as far as whole replicas allow (packing-maximal)."""
    per_offering = []
    for o in p.offerings:
        cands = [c for c in p.candidates if c.offering == o.id and c.tp <= o.gpus_per_instance and _useful(p, c)]
        budget = o.gpus_per_instance * n[o.id]
        vecs = []
        ranges = [range(budget // c.tp + 1) for c in cands]
        for counts in itertools.product(*ranges):
            used = sum(k * c.tp for k, c in zip(counts, cands, strict=True))
            if used <= budget and all(used + c.tp > budget for c in cands):
                vecs.append(dict(zip((c.id for c in cands), counts, strict=True)))
        per_offering.append(vecs or [{}])
    for combo in itertools.product(*per_offering):
        r = {c.id: 0 for c in p.candidates}
        for part in combo:
            r.update(part)
        yield r


def _useful(p: FleetProblem, c: FleetCandidate) -> bool:
    """Replicas count only for candidates that can serve some slice of their model (or any, for a
    model without slices): the optimiser's documented rule."""
    own = [i for i, s in enumerate(p.slices) if s.model == c.model]
    j = p.candidates.index(c)
    return not own or any(p.capacity_rps[i][j] > 0 for i in own)


def brute_force(p: FleetProblem) -> tuple[float, int, int] | None:
    """(cost, GPUs, instances) of the best plan with at most BOX-1 instances per offering, or None."""
    vectors = []
    for counts in itertools.product(range(BOX), repeat=len(p.offerings)):
        n = dict(zip((o.id for o in p.offerings), counts, strict=True))
        cost = math.fsum(o.price_usd_per_hour * n[o.id] for o in p.offerings)
        gpus = sum(o.gpus_per_instance * n[o.id] for o in p.offerings)
        vectors.append((cost, gpus, sum(counts), n))
    vectors.sort(key=lambda v: (round(v[0], 9), v[1], v[2]))
    routable = _whole_routable if p.mode == "whole-slice" else _lp_routable
    for cost, gpus, inst, n in vectors:
        if any(o.available is not None and n[o.id] > o.available for o in p.offerings):
            continue
        if p.budget_usd_per_hour is not None and cost > p.budget_usd_per_hour + 1e-9:
            continue
        for r in _maximal_replicas(p, n):
            if any(sum(r[c.id] for c in p.candidates if c.model == m) < k for m, k in p.min_replicas.items()):
                continue
            if routable(p, r):
                return cost, gpus, inst
    return None


# ------------------------------------------------------------------------------------- strategies
@st.composite
def problems(draw: st.DrawFn, whole: bool = False, constrained: bool = True) -> FleetProblem:
    n_off = draw(st.integers(1, 2))
    offerings = []
    for k in range(n_off):
        g = draw(st.sampled_from([1, 2]))
        price = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0]))
        avail = draw(st.sampled_from([None, None, 0, 1, 2, 3])) if constrained else None
        spot = draw(st.booleans()) if constrained else False
        offerings.append(FleetOffering(f"o{k}", price * g, g, available=avail, spot=spot))
    models = ["a", "b"][: draw(st.integers(1, 2))]
    candidates = []
    for o in offerings:
        for m in models:
            for tp in (1, 2):
                if tp <= o.gpus_per_instance and draw(st.sampled_from([True, True, False])):
                    candidates.append(FleetCandidate(f"{o.id}-{m}-tp{tp}", o.id, m, tp))
    if not candidates:
        candidates.append(FleetCandidate(f"{offerings[0].id}-a-tp1", offerings[0].id, models[0], 1))
    n_sl = draw(st.integers(1, 3 if not whole else 2))
    slices = [
        FleetSlice(f"s{i}", draw(st.sampled_from(models)), draw(st.sampled_from([0.3, 0.5, 0.8, 1.0, 1.5])))
        for i in range(n_sl)
    ]
    for s in slices:  # every model with traffic gets a candidate
        if not any(c.model == s.model for c in candidates):
            candidates.append(FleetCandidate(f"{offerings[0].id}-{s.model}-tp1", offerings[0].id, s.model, 1))
    grid = [
        [
            float(draw(st.sampled_from([0, 1, 1.5, 2, 3, 5, 8]))) * (c.tp if c.model == s.model else 1)
            for c in candidates
        ]
        for s in slices
    ]
    if draw(st.integers(0, 9)):  # mostly, every slice has someone who can serve it
        for i, s in enumerate(slices):
            own = [j for j, c in enumerate(candidates) if c.model == s.model]
            if not any(grid[i][j] > 0 for j in own):
                grid[i][own[0]] = 2.0
    caps = tuple(tuple(row) for row in grid)
    return FleetProblem(
        offerings=tuple(offerings),
        candidates=tuple(candidates),
        slices=tuple(slices),
        capacity_rps=caps,
        target_utilisation=draw(st.sampled_from([1.0, 0.8])),
        min_replicas={m: draw(st.integers(0, 2)) for m in models} if constrained else {},
        max_spot_share=draw(st.sampled_from([1.0, 1.0, 0.5, 0.0])) if constrained else 1.0,
        budget_usd_per_hour=draw(st.sampled_from([None, None, None, 2.0, 4.0, 8.0])) if constrained else None,
        mode="whole-slice" if whole else "fractional",
        slice_factor=draw(st.integers(1, 2)) if whole else 1,
    )


def _triple(p: FleetProblem, sol_instances: dict[str, int], cost: float) -> tuple[float, int, int]:
    gpus = sum(o.gpus_per_instance * sol_instances.get(o.id, 0) for o in p.offerings)
    return cost, gpus, sum(sol_instances.values())


def _check_against_oracle(p: FleetProblem) -> None:
    sol = solve_fleet(p)
    best = brute_force(p)
    event(f"status {sol.status}")
    if sol.status == "infeasible":
        event(sol.message.split(":")[1].split("(")[0][:40])
    if best is None:
        assert sol.status == "infeasible", (sol, p)
        assert sol.message.startswith("infeasible: ")
        return
    assert sol.status == "optimal", sol.message
    cost, gpus, inst = _triple(p, sol.instances, sol.cost_usd_per_hour)
    assert cost == pytest.approx(best[0], abs=1e-9)
    assert (gpus, inst) == best[1:], "tie-break: fewest GPUs, then fewest instances"
    assert verify_solution(p, sol) == ()


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(problems())
def test_fractional_matches_brute_force(p: FleetProblem) -> None:
    _check_against_oracle(p)


@SETTINGS
@given(problems(whole=True))
def test_whole_slice_matches_brute_force(p: FleetProblem) -> None:
    _check_against_oracle(p)


def test_oracle_finds_the_known_melange_optimum() -> None:
    """Sanity of the oracle itself on Mélange's example (rates 6, 3, 15, 6 req/s): $4.68/h and $6.70/h."""
    offerings = (FleetOffering("a100", 3.67, 1), FleetOffering("a10g", 1.01, 1))
    cands = (FleetCandidate("a100/1", "a100", "m", 1), FleetCandidate("a10g/1", "a10g", "m", 1))
    rates = (6.0, 3.0, 15.0, 6.0)
    caps = ((20.0, 2.0), (20.0, 1.0), (40.0, 5.0), (20.0, 2.0))
    p = FleetProblem(offerings, cands, tuple(FleetSlice(f"s{i}", "m", r) for i, r in enumerate(rates)), caps)
    fractional, whole = brute_force(p), brute_force(replace(p, mode="whole-slice"))
    assert fractional is not None and whole is not None
    assert fractional[0] == pytest.approx(4.68) and fractional[1:] == (2, 2)
    assert whole[0] == pytest.approx(6.70) and whole[1:] == (4, 4)


# ------------------------------------------------------------------------------------- properties
PROPS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(problems(whole=True, constrained=False))
def test_fractional_never_costlier_than_whole_slice(p: FleetProblem) -> None:
    whole = solve_fleet(p)
    frac = solve_fleet(replace(p, mode="fractional"))
    assert verify_solution(p, whole) == ()
    if whole.status == "optimal":
        assert frac.status == "optimal"
        assert frac.cost_usd_per_hour <= whole.cost_usd_per_hour + 1e-9


@PROPS
@given(problems(), st.sampled_from([1.0, 1.25, 2.0, 3.0]))
def test_cost_non_decreasing_in_rate(p: FleetProblem, factor: float) -> None:
    base = solve_fleet(p)
    more = replace(p, slices=tuple(replace(s, rate_rps=s.rate_rps * factor) for s in p.slices))
    bigger = solve_fleet(more)
    assert verify_solution(p, base) == ()
    assert verify_solution(more, bigger) == ()
    if bigger.status == "optimal":
        assert base.status == "optimal"
        assert base.cost_usd_per_hour <= bigger.cost_usd_per_hour + 1e-9


@PROPS
@given(problems(), st.integers(0, 1))
def test_removing_an_offering_never_lowers_cost(p: FleetProblem, drop: int) -> None:
    if len(p.offerings) < 2:
        return
    gone = p.offerings[drop].id
    keep = [j for j, c in enumerate(p.candidates) if c.offering != gone]
    fewer = replace(
        p,
        offerings=tuple(o for o in p.offerings if o.id != gone),
        candidates=tuple(p.candidates[j] for j in keep),
        capacity_rps=tuple(tuple(row[j] for j in keep) for row in p.capacity_rps),
    )
    full = solve_fleet(p)
    less = solve_fleet(fewer)
    if less.status == "optimal":
        assert full.status == "optimal"
        assert full.cost_usd_per_hour <= less.cost_usd_per_hour + 1e-9


@PROPS
@given(problems(), st.sampled_from([1e3, 1e6, 1e9]), st.integers(0, 7))
def test_tiny_loads_match_brute_force(p: FleetProblem, factor: float, which: int) -> None:
    """Some slices' loads scaled far below the solver's tolerances: every routed candidate still needs a
    replica, so the optimum is the oracle's (which only routes to candidates with replicas)."""
    tiny = {i for i in range(len(p.slices)) if which >> i & 1}
    caps = tuple(tuple(v * factor if i in tiny else v for v in row) for i, row in enumerate(p.capacity_rps))
    _check_against_oracle(replace(p, capacity_rps=caps))


@PROPS
@given(problems())
def test_verifier_accepts_every_plan(p: FleetProblem) -> None:
    sol = solve_fleet(p)
    assert verify_solution(p, sol) == ()
    for mode_problem in (replace(p, mode="whole-slice", slice_factor=2),):
        assert verify_solution(mode_problem, solve_fleet(mode_problem)) == ()


@PROPS
@given(problems(), st.integers(1, 3))
def test_limited_baselines_are_the_cheapest_of_all(p: FleetProblem, limit: int) -> None:
    """The bound-pruned search returns exactly the first `limit` of the exhaustive list."""
    from solvers.fleet import best_single_offering

    full = best_single_offering(p)
    some = best_single_offering(p, limit=limit)
    assert [(o, s.cost_usd_per_hour) for o, s in some] == [(o, s.cost_usd_per_hour) for o, s in full[:limit]]
