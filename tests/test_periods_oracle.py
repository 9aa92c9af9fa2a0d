"""The multi-period MILP against a brute-force oracle on tiny horizons, and against the one-period optimiser.

Oracle cases: offerings a (with a spot twin a#spot in a's pool) and b, one candidate each taking a whole
instance, one slice, three periods; a 1y commitment on a and a 3y one on b. Every count 0..3 per period
and 0..3 per commitment is enumerated; a period is served when the replicas' capacity covers its rate and
the on-demand part covers the share spot may not carry. Rates are at most what three instances of either
offering carry, and lead times are shorter than a period, so an optimum never needs more than 3.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from planner.verify_periods import verify_periods
from solvers.fleet import solve_fleet
from solvers.periods import FleetCommitment, PeriodsProblem, PeriodsSolution, price_grid, solve_periods
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice

N_MAX, K_MAX, PERIODS = 3, 3, 3


def _case(seed: int) -> PeriodsProblem:
    rng = np.random.default_rng(seed)
    pa, pb = (float(v) for v in rng.uniform(1.0, 4.0, 2).round(2))
    spot = float(round(pa * rng.uniform(0.2, 0.7), 2))
    ka, kb = (float(v) for v in rng.uniform(0.5, 2.0, 2).round(2))
    u = float(rng.choice([0.8, 1.0]))
    top = 3 * u * min(ka, kb)
    rates = tuple((float(r),) for r in rng.uniform(0.0, top, PERIODS).round(3))
    cap = int(rng.choice([2, 3, 6]))  # pool a (on-demand and spot together)
    base = FleetProblem(
        offerings=(
            FleetOffering("a", pa, 1, cap, False, "a"),
            FleetOffering("a#spot", spot, 1, cap, True, "a"),
            FleetOffering("b", pb, 1),
        ),
        candidates=tuple(FleetCandidate(c, o, "m", 1) for c, o in (("ca", "a"), ("cs", "a#spot"), ("cb", "b"))),
        slices=(FleetSlice("s", "m", 1.0),),
        capacity_rps=((ka, ka, kb),),
        target_utilisation=u,
        min_replicas={"m": 0},
        max_spot_share=float(rng.choice([0.0, 0.4, 1.0])),
    )
    commitments = (
        FleetCommitment("a-1y", "a", "1y", float(round(pa * rng.uniform(0.3, 0.9), 2))),
        FleetCommitment("b-3y", "b", "3y", float(round(pb * rng.uniform(0.3, 0.9), 2))),
    )
    lead = {o: float(v) for o, v in zip(("a", "a#spot", "b"), rng.uniform(0.0, 0.9, 3).round(2), strict=True)}
    return PeriodsProblem(base, rates, 1.0, commitments, lead, cyclic=bool(rng.integers(2)))


def _oracle(problem: PeriodsProblem) -> float:
    """The cheapest plan by enumeration (numpy over the periods' count vectors)."""
    base = problem.base
    price = np.array([o.price_usd_per_hour for o in base.offerings])
    lead = np.array([problem.start_hours.get(o.id, 0.0) for o in base.offerings])
    kap = np.array(base.capacity_rps[0]) * base.target_utilisation
    cap = base.offerings[0].available
    vecs = np.array(list(itertools.product(range(N_MAX + 1), repeat=3)), dtype=float)
    pool_ok = vecs[:, 0] + vecs[:, 1] <= (cap if cap is not None else np.inf)
    best = np.inf
    caps = [K_MAX if c.max_instances is None else min(K_MAX, c.max_instances) for c in problem.commitments]
    for ka, kb in itertools.product(range(caps[0] + 1), range(caps[1] + 1)):
        k = np.array([ka, 0, kb], dtype=float)
        feasible = []
        for (rate,) in problem.rates_rps:
            total = vecs @ kap
            on_demand = vecs[:, 0] * kap[0] + vecs[:, 2] * kap[2]
            ok = pool_ok & (total >= rate - 1e-9) & (on_demand >= (1 - base.max_spot_share) * rate - 1e-9)
            ok &= (vecs >= k).all(axis=1)
            if "b" in problem.owned_only:
                ok &= vecs[:, 2] <= kb
            feasible.append(vecs[ok])
        if any(f.shape[0] == 0 for f in feasible):
            continue
        n0, n1, n2 = feasible[0][:, None, None, :], feasible[1][None, :, None, :], feasible[2][None, None, :, :]
        run = sum(((n - k) * price).sum(-1) for n in (n0, n1, n2))
        first = n2 if problem.cyclic else k
        grow = sum(
            (np.maximum(now - before, 0) * lead * price).sum(-1) for now, before in ((n0, first), (n1, n0), (n2, n1))
        )
        ca, cb = (c.price_usd_per_hour for c in problem.commitments)
        fixed = problem.horizon_hours * (ka * ca + kb * cb)
        best = min(best, float((run * problem.period_hours + grow).min()) + fixed)
    return best


def _agrees(problem: PeriodsProblem, solution: PeriodsSolution, want: float) -> bool:
    """Assert that the MILP's answer is the brute force's `want` (infeasible when it is infinite) and that
    the verifier passes it; True when there is a plan left for the caller to check further."""
    if not np.isfinite(want):
        assert solution.status == "infeasible"
        return False
    assert solution.status == "optimal", solution.message
    assert solution.cost_usd == pytest.approx(want, rel=1e-6, abs=1e-6)
    assert verify_periods(problem, solution) == ()
    return True


@pytest.mark.parametrize("seed", range(24))
def test_multi_period_milp_matches_brute_force(seed: int) -> None:
    problem = _case(seed)
    solution = solve_periods(problem, time_limit_s=30)
    want = _oracle(problem)
    if not _agrees(problem, solution, want):
        return


def test_verifier_catches_a_broken_plan() -> None:
    problem = _case(3)
    solution = solve_periods(problem, time_limit_s=30)
    assert solution.status == "optimal"
    cheaper = replace(solution, cost_usd=solution.cost_usd * 0.9)
    assert any(v.startswith("cost:") for v in verify_periods(problem, cheaper))
    busiest = max(range(PERIODS), key=lambda p: problem.rates_rps[p][0])
    emptied = list(solution.periods)
    emptied[busiest] = replace(emptied[busiest], instances={}, replicas={}, cost_usd_per_hour=0.0)
    broken = verify_periods(problem, replace(solution, periods=tuple(emptied)))
    assert any(v.startswith(f"period {busiest}:") for v in broken)


def test_one_period_is_the_single_period_plan() -> None:
    """A horizon of one period without commitments costs what the one-period optimiser pays for it."""
    for seed in range(6):
        problem = _case(seed)
        rate = max(problem.rates_rps)
        one = replace(problem, rates_rps=(rate,), commitments=(), period_hours=2.0, cyclic=True)
        single = solve_fleet(replace(problem.base, slices=(FleetSlice("s", "m", rate[0]),)))
        multi = solve_periods(one)
        assert multi.status == single.status == "optimal"
        assert multi.cost_usd == pytest.approx(2.0 * single.cost_usd_per_hour, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_a_dearer_commitment_on_the_same_offering_is_never_bought(seed: int) -> None:
    """Only the cheapest commitment of an offering enters the MILP (the others are dominated): adding a
    dearer one changes neither the cost nor what is bought; with prices off the cent grid the value cuts
    fall back to a tolerance below their bound and the oracle still agrees."""
    problem = _case(seed)
    a_1y = problem.commitments[0]
    dearer = FleetCommitment("a-3y-dear", "a", "3y", a_1y.price_usd_per_hour + 0.013)
    more = replace(problem, commitments=(*problem.commitments, dearer))
    solution = solve_periods(more, time_limit_s=30)
    if not _agrees(more, solution, _oracle(problem)):
        return
    assert "a-3y-dear" not in solution.committed
    odd = replace(
        problem,
        base=replace(
            problem.base,
            offerings=tuple(
                replace(o, price_usd_per_hour=o.price_usd_per_hour + 1e-7 * (i + 1))
                for i, o in enumerate(problem.base.offerings)
            ),
        ),
    )
    assert price_grid(np.array([o.price_usd_per_hour for o in odd.base.offerings])) is None
    assert solve_periods(odd, time_limit_s=30).cost_usd == pytest.approx(_oracle(odd), rel=1e-6, abs=1e-6)


def test_price_grid() -> None:
    assert price_grid(np.array([1.25, 3.5, 0.0])) == pytest.approx(0.01)
    assert price_grid(np.array([2.0, 4.1])) == pytest.approx(0.1)
    assert price_grid(np.array([1.234567])) == pytest.approx(1e-6)
    assert price_grid(np.array([1 / 3])) is None


@pytest.mark.parametrize("seed", [1, 5])
def test_cbc_agrees_with_the_brute_force(seed: int) -> None:
    problem = _case(seed)
    solution = solve_periods(problem, solver="cbc", time_limit_s=30)
    want = _oracle(problem)
    assert solution.solver == "cbc"
    if not _agrees(problem, solution, want):
        return


@pytest.mark.parametrize("seed", range(8))
def test_an_owned_offering_matches_brute_force(seed: int) -> None:
    """b is on-prem: it runs only as owned (committed) instances, at most 2 of them, at its amortised
    price; a is rented by the hour, on spot or committed as before."""
    problem = _case(seed)
    owned = FleetCommitment("b-on-prem", "b", "on_prem", problem.commitments[1].price_usd_per_hour, max_instances=2)
    problem = replace(problem, commitments=(problem.commitments[0], owned), owned_only=frozenset({"b"}))
    solution = solve_periods(problem, time_limit_s=30)
    want = _oracle(problem)
    if not _agrees(problem, solution, want):
        return
    k = solution.committed.get("b-on-prem", 0)
    assert k <= 2 and all(p.instances.get("b", 0) == k for p in solution.periods)
    if k:
        over = replace(solution, committed={**solution.committed, "b-on-prem": 3})
        assert any("at most 2" in v for v in verify_periods(problem, over))


@pytest.mark.parametrize("seed", range(6))
def test_the_constant_fleet_baseline_matches_brute_force(seed: int) -> None:
    """One fleet for every period (the peak-provisioned baseline): the cheapest count vector that serves
    every period, paid every period (and started once when the horizon is not cyclic)."""
    problem = replace(_case(seed), commitments=(), constant_fleet=True)
    base = problem.base
    price = np.array([o.price_usd_per_hour for o in base.offerings])
    lead = np.array([problem.start_hours.get(o.id, 0.0) for o in base.offerings])
    kap = np.array(base.capacity_rps[0]) * base.target_utilisation
    cap = base.offerings[0].available
    best = np.inf
    for n in itertools.product(range(N_MAX + 1), repeat=3):
        v = np.array(n, dtype=float)
        if cap is not None and v[0] + v[1] > cap:
            continue
        total, on_demand = v @ kap, v[0] * kap[0] + v[2] * kap[2]
        if all(total >= r - 1e-9 and on_demand >= (1 - base.max_spot_share) * r - 1e-9 for (r,) in problem.rates_rps):
            cost = problem.horizon_hours * float(v @ price) + (0.0 if problem.cyclic else float((v * lead) @ price))
            best = min(best, cost)
    solution = solve_periods(problem, time_limit_s=30)
    if not _agrees(problem, solution, best):
        return
    assert len({tuple(sorted(p.instances.items())) for p in solution.periods}) == 1


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_every_solve_stops_at_a_work_limit_so_the_time_limit_does_not_decide_the_plan(
    solver: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each solve of a multi-period plan (every period alone, the commitments' re-solves, the stacked
    model) gets a node limit that follows from its size (`node_limit`): where a limit stops branch and
    bound, it stops at the same node on every machine, so the plan does not depend on how fast the machine
    is, as long as the run ends within its time limit."""
    from solvers.backend import open_backend as real  # noqa: PLC0415 - wrapped to record its solves
    from solvers.periods import node_limit  # noqa: PLC0415

    calls: list[tuple[int, int | None]] = []

    def recording(model, name):  # type: ignore[no-untyped-def]
        session = real(model, name)
        solve = session.solve

        def solve_recorded(**kwargs):  # type: ignore[no-untyped-def]
            calls.append((model.num_cols, kwargs.get("node_limit")))
            return solve(**kwargs)

        session.solve = solve_recorded  # type: ignore[method-assign]
        return session

    monkeypatch.setattr("solvers.periods.open_backend", recording)
    problem = _case(3)
    first = solve_periods(problem, solver=solver, time_limit_s=30)
    assert calls and all(limit == node_limit(cols) for cols, limit in calls)
    assert calls[-1][0] == max(cols for cols, _ in calls)  # the stacked model, solved last
    again = solve_periods(problem, solver=solver, time_limit_s=60)
    assert (again.status, again.cost_usd, again.committed, again.gap) == (
        first.status,
        first.cost_usd,
        first.committed,
        first.gap,
    )


def test_the_node_limit_is_a_budget_of_nodes_times_columns_squared_with_the_root_at_least() -> None:
    """About the same time of branch and bound at every size (a node's time grows with about the square
    of the columns), the root at least, and never more than HiGHS's own 'no limit'."""
    from solvers.backend import NO_NODE_LIMIT  # noqa: PLC0415
    from solvers.periods import NODE_WORK, node_limit  # noqa: PLC0415 - the function under test

    for cols in (3_106, 9_976, 21_682):
        assert node_limit(cols) * cols**2 <= NODE_WORK < (node_limit(cols) + 1) * cols**2
    assert node_limit(10_000) < node_limit(5_000) / 3
    assert node_limit(1_000_000) == 1 and node_limit(1) == node_limit(0) == NO_NODE_LIMIT


def test_a_highs_session_solved_again_without_a_node_limit_has_none() -> None:
    """Sessions are reused across solves (the lexicographic stages of a plan): a node limit set for one
    solve must not carry into the next."""
    from solvers.backend import NO_NODE_LIMIT, open_backend  # noqa: PLC0415
    from solvers.fleet_milp import build_milp  # noqa: PLC0415

    session = open_backend(build_milp(_case(3).base), "highs")
    session.solve(time_limit_s=10, mip_rel_gap=0.0, node_limit=1)
    assert session.h.getOptionValue("mip_max_nodes")[1] == 1  # type: ignore[attr-defined]
    session.solve(time_limit_s=10, mip_rel_gap=0.0)
    assert session.h.getOptionValue("mip_max_nodes")[1] == NO_NODE_LIMIT  # type: ignore[attr-defined]
