"""solvers.fleet: constraints, tie-breaks, infeasibility reasons, whole-slice mode, back-ends, LP names."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

import solvers.backend as fleet_backend
import solvers.fleet as fleet
from planner.verify import verify_solution
from solvers.backend import Session, map_highs_status
from solvers.errors import SolverArgumentError, SolverFailure
from solvers.fleet import best_single_offering, fleet_lp, solve_fleet
from solvers.fleet_milp import FleetMilp, build_milp
from solvers.packing import packing_shape
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice, FleetSolution


def melange_head(mode: str = "fractional") -> FleetProblem:
    """Mélange's example_head input (A100-80GB $3.67, A10G $1.01; 30 req/s over four buckets)."""
    offerings = (FleetOffering("a100", 3.67, 1), FleetOffering("a10g", 1.01, 1))
    cands = (FleetCandidate("a100/tp1", "a100", "m", 1), FleetCandidate("a10g/tp1", "a10g", "m", 1))
    rates = (6.0, 3.0, 15.0, 6.0)
    caps = ((20.0, 2.0), (20.0, 1.0), (40.0, 5.0), (20.0, 2.0))
    slices = tuple(FleetSlice(f"b{i}", "m", r) for i, r in enumerate(rates))
    return FleetProblem(offerings, cands, slices, caps, mode=mode)  # type: ignore[arg-type]


def one_model(offerings: tuple[FleetOffering, ...], cap: float = 1.0, rate: float = 2.0, **kw: object) -> FleetProblem:
    """One slice of `rate` req/s; one tp-1 candidate per offering with capacity `cap`."""
    cands = tuple(FleetCandidate(f"{o.id}/tp1", o.id, "m", 1) for o in offerings)
    return FleetProblem(
        offerings,
        cands,
        (FleetSlice("s", "m", rate),),
        ((cap,) * len(cands),),
        **kw,  # type: ignore[arg-type]
    )


def test_melange_head_fractional_is_the_true_optimum() -> None:
    p = melange_head()
    sol = solve_fleet(p)
    assert sol.status == "optimal"
    assert sol.cost_usd_per_hour == pytest.approx(4.68)
    assert sol.instances == {"a100": 1, "a10g": 1}
    assert sol.gap == 0.0
    assert verify_solution(p, sol) == ()
    # bucket 2 (15 req/s) is split: 2/3 on the A100 fills it exactly, 1/3 goes to the A10G
    assert sol.routing["b2"] == pytest.approx({"a100/tp1": 2 / 3, "a10g/tp1": 1 / 3})


def test_melange_head_whole_slice_reproduces_melange() -> None:
    p = melange_head("whole-slice")
    sol = solve_fleet(p)
    assert sol.cost_usd_per_hour == pytest.approx(6.70)
    assert sol.instances == {"a100": 1, "a10g": 3}
    assert all(list(shares.values()) == [1.0] for shares in sol.routing.values())
    assert verify_solution(p, sol) == ()


def test_slice_factor_pieces_can_split_a_bucket() -> None:
    whole2 = replace(melange_head("whole-slice"), slice_factor=2)
    sol = solve_fleet(whole2)
    assert verify_solution(whole2, sol) == ()
    assert 4.68 - 1e-9 <= sol.cost_usd_per_hour <= 6.70 + 1e-9
    for shares in sol.routing.values():
        assert all(v * 2 == round(v * 2) for v in shares.values())


def test_cbc_gives_the_same_plan() -> None:
    for mode in ("fractional", "whole-slice"):
        p = melange_head(mode)
        a, b = solve_fleet(p), solve_fleet(p, solver="cbc")
        assert b.solver == "cbc"
        assert (b.status, b.instances) == (a.status, a.instances)
        assert b.cost_usd_per_hour == pytest.approx(a.cost_usd_per_hour)
        assert verify_solution(p, b) == ()


def test_highs_failure_falls_back_to_cbc(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fleet_backend.open_session

    def broken(model: FleetMilp, name: str) -> Session:
        if name == "highs":
            raise RuntimeError("simulated HiGHS crash")
        return real(model, name)

    monkeypatch.setattr(fleet_backend, "open_session", broken)
    sol = solve_fleet(melange_head())
    assert sol.solver == "cbc"
    assert "fallback" in sol.message and "simulated HiGHS crash" in sol.message
    assert sol.cost_usd_per_hour == pytest.approx(4.68)


def test_missing_highspy_uses_cbc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet, "highs_available", lambda: False)
    sol = solve_fleet(melange_head())
    assert sol.solver == "cbc" and "highspy is not installed" in sol.message


def test_both_backends_failing_is_a_solver_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model: FleetMilp, name: str) -> Session:
        raise RuntimeError(f"{name} down")

    monkeypatch.setattr(fleet_backend, "open_session", broken)
    with pytest.raises(SolverFailure, match="CBC fallback failed"):
        solve_fleet(melange_head())


@pytest.mark.parametrize(
    ("name", "has_point", "gap", "expected"),
    [
        ("kOptimal", True, 0.0, "optimal"),
        ("kOptimal", True, 0.01, "gap"),
        ("kOptimal", False, None, "error"),
        ("kInfeasible", False, None, "infeasible"),
        ("kUnboundedOrInfeasible", False, None, "infeasible"),
        ("kUnbounded", False, None, "unbounded"),
        ("kTimeLimit", True, 0.2, "gap"),
        ("kTimeLimit", False, None, "not_solved"),
        ("kIterationLimit", True, None, "gap"),
        ("kMemoryLimit", False, None, "not_solved"),
        ("kModelEmpty", False, None, "optimal"),
        ("kSolveError", False, None, "error"),
        ("kPresolveError", False, None, "error"),
        ("kNotset", False, None, "error"),
    ],
)
def test_highs_status_mapping(name: str, has_point: bool, gap: float | None, expected: str) -> None:
    assert map_highs_status(name, has_point=has_point, gap=gap) == expected


def test_time_limit_reports_a_status_not_an_exception() -> None:
    p = melange_head()
    sol = solve_fleet(p, time_limit_s=1e-6)
    assert sol.status in ("optimal", "gap", "not_solved")
    assert verify_solution(p, sol) == ()


def test_bad_solver_options_name_the_argument() -> None:
    """The solver names its argument; the planner maps it to the flag (tests/test_plan_solver_outcomes.py)."""
    cases = (
        (dict(solver="gurobi"), "solver", "unknown solver 'gurobi'"),
        (dict(time_limit_s=0), "time_limit_s", "time limit"),
    )
    for kw, argument, text in (*cases, (dict(mip_gap=2), "mip_gap", "MIP gap")):
        with pytest.raises(SolverArgumentError, match=text) as info:
            solve_fleet(melange_head(), **kw)
        assert info.value.argument == argument and "--" not in info.value.message


def test_empty_problem_costs_nothing() -> None:
    p = FleetProblem((FleetOffering("o", 1.0, 1),), (), (), ())
    sol = solve_fleet(p)
    assert (sol.status, sol.cost_usd_per_hour, sol.instances) == ("optimal", 0.0, {})


# ------------------------------------------------------------------------------------ constraints
def test_availability_cap_moves_load_to_the_next_cheapest() -> None:
    offs = (FleetOffering("cheap", 1.0, 1, available=1), FleetOffering("dear", 1.5, 1))
    p = one_model(offs, cap=1.0, rate=3.0)
    sol = solve_fleet(p)
    assert sol.instances == {"cheap": 1, "dear": 2}
    assert verify_solution(p, sol) == ()


def test_availability_infeasible_names_the_caps() -> None:
    p = one_model((FleetOffering("only", 1.0, 1, available=2),), cap=1.0, rate=3.0)
    sol = solve_fleet(p)
    assert sol.status == "infeasible"
    assert "availability caps bind" in sol.message and "3 x only (available 2)" in sol.message
    assert verify_solution(p, sol) == ()


def test_min_replicas_gives_n_plus_one() -> None:
    p = one_model((FleetOffering("o", 1.0, 1),), cap=10.0, rate=1.0, min_replicas={"m": 3})
    sol = solve_fleet(p)
    assert sol.replicas == {"o/tp1": 3} and sol.instances == {"o": 3}


def test_min_replicas_with_no_candidate_is_infeasible_with_reason() -> None:
    p = one_model((FleetOffering("o", 1.0, 1),), min_replicas={"other": 1})
    sol = solve_fleet(p)
    assert sol.status == "infeasible"
    assert "model 'other' needs min_replicas 1" in sol.message


def test_min_replicas_against_availability_names_both() -> None:
    p = one_model((FleetOffering("o", 1.0, 1, available=1),), cap=10.0, rate=1.0, min_replicas={"m": 2})
    msg = solve_fleet(p).message
    assert "availability caps bind" in msg and "minimum replicas bind" in msg


def test_spot_share_is_respected() -> None:
    offs = (FleetOffering("od", 2.0, 1), FleetOffering("spot", 1.0, 1, spot=True))
    p = one_model(offs, cap=1.0, rate=4.0, max_spot_share=0.5)
    sol = solve_fleet(p)
    on_spot_rps = sum(
        p.slices[0].rate_rps * share for cid, share in sol.routing[p.slices[0].id].items() if cid.startswith("spot")
    )
    assert on_spot_rps <= 0.5 * 4.0 + 1e-9  # at most half the traffic on spot
    assert sol.cost_usd_per_hour == pytest.approx(6.0)  # 2 spot ($2) + 2 on-demand ($4)
    assert verify_solution(p, sol) == ()


def test_spot_only_with_zero_share_is_infeasible() -> None:
    p = one_model((FleetOffering("spot", 1.0, 1, spot=True),), max_spot_share=0.0)
    sol = solve_fleet(p)
    assert sol.status == "infeasible" and "spot share limit binds" in sol.message


def test_budget_too_small_reports_the_needed_cost() -> None:
    p = one_model((FleetOffering("o", 1.25, 1),), cap=1.0, rate=3.0, budget_usd_per_hour=2.0)
    sol = solve_fleet(p)
    assert sol.status == "infeasible"
    assert "the budget binds: the cheapest plan costs $3.75/h, over the budget of $2/h" in sol.message


def test_unservable_slices_are_listed_without_solving() -> None:
    offs = (FleetOffering("o", 1.0, 1),)
    cands = (FleetCandidate("c", "o", "m", 1),)
    slices = (FleetSlice("short", "m", 1.0), FleetSlice("long", "m", 1.0))
    p = FleetProblem(offs, cands, slices, ((1.0,), (0.0,)))
    sol = solve_fleet(p)
    assert sol.status == "infeasible"
    assert "no candidate has capacity > 0 for 1 slice(s): long" in sol.message


def test_target_utilisation_leaves_headroom() -> None:
    p = one_model((FleetOffering("o", 1.0, 1),), cap=1.0, rate=2.0, target_utilisation=0.5)
    assert solve_fleet(p).instances == {"o": 4}


def test_packing_shares_instances_between_models_and_tp() -> None:
    offs = (FleetOffering("node", 8.0, 8),)
    cands = (FleetCandidate("a-tp4", "node", "a", 4), FleetCandidate("b-tp2", "node", "b", 2))
    slices = (FleetSlice("sa", "a", 1.0), FleetSlice("sb", "b", 2.0))
    p = FleetProblem(offs, cands, slices, ((1.0, 0.0), (0.0, 1.0)))
    sol = solve_fleet(p)
    assert sol.replicas == {"a-tp4": 1, "b-tp2": 2} and sol.instances == {"node": 1}
    assert verify_solution(p, sol) == ()


def test_replica_that_does_not_fit_its_instance_is_never_used() -> None:
    offs = (FleetOffering("small", 1.0, 4), FleetOffering("big", 3.0, 8))
    cands = (FleetCandidate("small-tp8", "small", "m", 8), FleetCandidate("big-tp8", "big", "m", 8))
    p = FleetProblem(offs, cands, (FleetSlice("s", "m", 1.0),), ((5.0, 5.0),))
    assert solve_fleet(p).instances == {"big": 1}


def test_replicas_are_trimmed_to_the_load() -> None:
    p = one_model((FleetOffering("node", 8.0, 8),), cap=1.0, rate=2.5)
    sol = solve_fleet(p)
    assert sol.instances == {"node": 1} and sol.replicas == {"node/tp1": 3}


# ------------------------------------------------------------------------------------ tiny loads
def tiny_load(cap: float, mode: str = "fractional", slice_factor: int = 1) -> FleetProblem:
    """0.01 req/s on a candidate that serves `cap` req/s: 0.01 / cap of a replica."""
    return FleetProblem(
        (FleetOffering("o", 1.0, 1),),
        (FleetCandidate("c", "o", "m", 1),),
        (FleetSlice("s", "m", 0.01),),
        ((cap,),),
        mode=mode,  # type: ignore[arg-type]
        slice_factor=slice_factor,
    )


@pytest.mark.parametrize("solver", ["highs", "cbc"])
@pytest.mark.parametrize(
    ("cap", "mode", "slice_factor"),
    [
        (11332.0, "fractional", 1),  # 8.8e-7 of a replica, below HiGHS's feasibility tolerance (1e-6)
        (2e5, "fractional", 1),  # 5e-8: ceil(load - 1e-7) = 0, so trimming alone would drop the replica
        (1e12, "fractional", 1),
        (2e5, "whole-slice", 4),
    ],
)
def test_a_load_below_the_solver_tolerance_still_gets_a_replica(
    cap: float, mode: str, slice_factor: int, solver: str
) -> None:
    """Before the link rows: status optimal, cost 0, no replica and the slice not routed at all."""
    p = tiny_load(cap, mode, slice_factor)
    sol = solve_fleet(p, solver=solver)
    assert sol.status == "optimal", sol.message
    assert (sol.instances, sol.replicas, sol.routing) == ({"o": 1}, {"c": 1}, {"s": {"c": 1.0}})
    assert verify_solution(p, sol) == ()


def test_a_tiny_slice_only_one_candidate_serves_gets_its_own_replica() -> None:
    offs = (FleetOffering("o", 1.0, 1),)
    cands = (FleetCandidate("c1", "o", "m", 1), FleetCandidate("c2", "o", "m", 1))
    slices = (FleetSlice("big", "m", 1.0), FleetSlice("tiny", "m", 1e-3))
    p = FleetProblem(offs, cands, slices, ((1.0, 0.0), (0.0, 1e7)))  # tiny: 1e-10 of a c2 replica
    sol = solve_fleet(p)
    assert sol.replicas == {"c1": 1, "c2": 1} and sol.instances == {"o": 2}
    assert sol.routing == {"big": {"c1": 1.0}, "tiny": {"c2": 1.0}}
    assert verify_solution(p, sol) == ()
    # When the loaded candidate can take it, the tiny slice rides along for free.
    shared = replace(p, capacity_rps=((1.0, 0.0), (1e7, 1e7)))
    sol = solve_fleet(shared)
    assert sol.instances == {"o": 1} and sol.replicas == {"c1": 1}
    assert verify_solution(shared, sol) == ()


# ------------------------------------------------------------------------------------ tie-breaks
def test_tie_break_fewer_gpus_then_fewer_instances_then_id() -> None:
    # Same cost ($2/h): one 4-GPU instance, or two 1-GPU instances; fewer GPUs wins.
    offs = (FleetOffering("big", 2.0, 4), FleetOffering("small", 1.0, 1))
    assert solve_fleet(one_model(offs, cap=1.0, rate=2.0)).instances == {"small": 2}
    # Same cost and GPUs: one 2-GPU instance beats two 1-GPU instances.
    offs = (FleetOffering("pair", 2.0, 2), FleetOffering("single", 1.0, 1))
    assert solve_fleet(one_model(offs, cap=1.0, rate=2.0)).instances == {"pair": 1}
    # Identical offerings: the id that sorts first, whatever the input order.
    offs = (FleetOffering("zeta", 1.0, 1), FleetOffering("alpha", 1.0, 1))
    assert solve_fleet(one_model(offs, cap=1.0, rate=2.0)).instances == {"alpha": 2}


def test_tie_breaks_never_change_the_cost() -> None:
    p = melange_head()
    sol = solve_fleet(p)
    assert sol.message.startswith("tie-breaks: ")  # run, or skipped as no other fleet costs as little
    assert sol.cost_usd_per_hour == pytest.approx(4.68)


def test_same_inputs_same_plan() -> None:
    p = melange_head()
    a, b = solve_fleet(p), solve_fleet(p)
    assert (a.instances, a.replicas, a.routing) == (b.instances, b.replicas, b.routing)


# ------------------------------------------------------------------------------------- baselines
def test_best_single_offering_sorted_and_infeasible_excluded() -> None:
    p = melange_head()
    base = best_single_offering(p)
    assert [(o, round(s.cost_usd_per_hour, 2)) for o, s in base] == [("a100", 7.34), ("a10g", 12.12)]
    capped = replace(p, offerings=(p.offerings[0], replace(p.offerings[1], available=3)))
    assert [o for o, _ in best_single_offering(capped)] == ["a100"]


# ------------------------------------------------------------------------------------ model / LP
def test_lp_names_and_eliminated_routes() -> None:
    offs = (FleetOffering("od", 2.0, 1, available=3), FleetOffering("sp", 1.0, 1, spot=True))
    cands = (FleetCandidate("c0", "od", "m", 1), FleetCandidate("c1", "sp", "m", 1))
    slices = (FleetSlice("s0", "m", 1.0), FleetSlice("s1", "m", 1.0))
    p = FleetProblem(
        offs,
        cands,
        slices,
        ((1.0, 2.0), (0.0, 4.0)),  # s1 cannot go to c0: no route_1_0
        min_replicas={"m": 2},
        max_spot_share=0.5,
        budget_usd_per_hour=10.0,
    )
    text = fleet_lp(p)
    variables = set(re.findall(r"\b(?:instances|replicas|route)_[0-9_]+\b", text))
    assert variables == {
        "instances_0",
        "instances_1",
        "replicas_0",
        "replicas_1",
        "route_0_0",
        "route_0_1",
        "route_1_1",
    }
    for row in ("demand_0:", "demand_1:", "capacity_0:", "capacity_1:", "packing_0:", "packing_1:"):
        assert row in text
    for row in ("availability_0:", "min_replicas_0:", "spot_share:", "budget:"):
        assert row in text
    assert "availability_1" not in text
    assert "capacity_1: - replicas_1 + 0.5 route_0_1 + 0.25 route_1_1 <= 0" in text
    assert "spot_share: 0.5 route_0_1 + 0.5 route_1_1 <= 0.5" in text
    assert "link_1: - 2 replicas_1 + route_0_1 + route_1_1 <= 0" in text  # S_1 = 2 routes
    model = build_milp(p)
    assert model.row_names() == [
        "demand_0",
        "demand_1",
        "capacity_0",
        "capacity_1",
        "link_0",
        "link_1",
        "packing_0",
        "packing_1",
        "availability_0",
        "min_replicas_0",
        "spot_share",
        "budget",
    ]


def test_malformed_problem_is_a_value_error() -> None:
    p = melange_head()
    with pytest.raises(ValueError, match="one row per slice"):
        build_milp(replace(p, capacity_rps=p.capacity_rps[:2]))
    with pytest.raises(ValueError, match="unknown offering"):
        build_milp(replace(p, candidates=(FleetCandidate("x", "nope", "m", 1), p.candidates[1])))


# ------------------------------------------------------------------------------------ packing shapes
def test_packing_shape_splits_a_divisibility_chain_from_odd_sizes() -> None:
    assert packing_shape(8, [1, 2, 4, 8]) == packing_shape(8, [8, 4, 2, 1])
    assert packing_shape(8, [1, 2, 4, 8]).chain == ((1, 8),)  # one row, as for every power-of-two shape
    six = packing_shape(6, [2, 4])
    assert (six.chain, six.core) == (((2, 6), (4, 4)), ())  # a 6-GPU instance holds one tp4 replica at most
    odd = packing_shape(6, [2, 3])
    assert odd.chain == () and odd.core == (2, 3)
    assert sorted(odd.patterns) == [(0, 2), (1, 1), (3, 0)]  # maximal: 3x2, 2+3, 2x3
    mixed = packing_shape(8, [1, 3, 4, 16])  # tp 16 does not fit; 1 divides all; 3 and 4 are odd
    assert mixed.chain == ((1, 8),) and mixed.core == (3, 4)


def test_odd_instance_shape_packs_tp4_and_tp2_on_one_instance() -> None:
    """The issue's case: one 6-GPU offering at $10/h; one slice only tp4 serves, one only tp2. A replica
    of each shares one instance (4 + 2 = 6 GPUs): $10/h, not $20/h."""
    offs = (FleetOffering("six", 10.0, 6),)
    cands = (FleetCandidate("tp4", "six", "m", 4), FleetCandidate("tp2", "six", "m", 2))
    p = FleetProblem(offs, cands, (FleetSlice("a", "m", 1.0), FleetSlice("b", "m", 1.0)), ((1.0, 0.0), (0.0, 1.0)))
    sol = solve_fleet(p)
    assert (sol.status, sol.cost_usd_per_hour, sol.instances) == ("optimal", 10.0, {"six": 1})
    assert sol.replicas == {"tp2": 1, "tp4": 1}
    assert verify_solution(p, sol) == ()
    lp = fleet_lp(p)
    assert "packing_0: - 6 instances_0 + 4 replicas_0 + 2 replicas_1 <= 0" in lp
    assert "packing_0_4: - 4 instances_0 + 4 replicas_0 <= 0" in lp  # at most one tp4 per instance


def test_odd_sizes_are_packed_by_patterns() -> None:
    """tp 2 and 3 on 6-GPU instances: two tp3 share one instance, a tp2 needs another; 3+3+2 GPUs would
    fit 8 GPUs by volume but not one instance."""
    offs = (FleetOffering("six", 10.0, 6),)
    cands = (FleetCandidate("tp3", "six", "m", 3), FleetCandidate("tp2", "six", "m", 2))
    slices = (FleetSlice("a", "m", 2.0), FleetSlice("b", "m", 1.0))
    p = FleetProblem(offs, cands, slices, ((1.0, 0.0), (0.0, 1.0)))
    sol = solve_fleet(p)
    assert sol.replicas == {"tp2": 1, "tp3": 2} and sol.instances == {"six": 2}
    assert verify_solution(p, sol) == ()
    names = build_milp(p).column_names()
    assert [n for n in names if n.startswith("pattern_")] == ["pattern_0_0", "pattern_0_1", "pattern_0_2"]


# ------------------------------------------------------------------------------------ availability pools
def test_on_demand_and_spot_share_one_availability_cap() -> None:
    """`available: 1` on an instance type is one instance in all, on-demand and spot together."""
    offs = (
        FleetOffering("x", 2.0, 1, available=1, pool="x"),
        FleetOffering("x#spot", 1.0, 1, available=1, spot=True, pool="x"),
        FleetOffering("y", 5.0, 1),
    )
    p = one_model(offs, cap=1.0, rate=2.0)
    sol = solve_fleet(p)
    assert sol.instances == {"x#spot": 1, "y": 1} and sol.cost_usd_per_hour == 6.0
    assert verify_solution(p, sol) == ()
    assert "availability_0: instances_0 + instances_1 <= 1" in fleet_lp(p)
    both = replace(sol, instances={"x": 1, "x#spot": 1}, cost_usd_per_hour=3.0, replicas={"x/tp1": 1, "x#spot/tp1": 1})
    both = replace(both, routing={"s": {"x/tp1": 0.5, "x#spot/tp1": 0.5}})
    assert verify_solution(p, both) == ("availability: 2 x x (x + x#spot) rented, 1 available",)
    capped = solve_fleet(replace(p, offerings=offs[:2], candidates=p.candidates[:2], capacity_rps=((1.0, 1.0),)))
    assert capped.status == "infeasible" and "2 x x (available 1)" in capped.message


def test_a_pool_with_two_caps_is_a_bug_in_the_problem() -> None:
    offs = (FleetOffering("x", 2.0, 1, available=1, pool="x"), FleetOffering("x#spot", 1.0, 1, available=2, pool="x"))
    with pytest.raises(ValueError, match="different availability caps"):
        build_milp(one_model(offs))


# ------------------------------------------------------------------------------------ N+1 redundancy
def _survives_any_instance_loss(p: FleetProblem, sol: FleetSolution) -> bool:
    """Recomputed here from the plan: for every layout, every instance lost in turn, the group keeps its
    traffic (rate x share / capacity) within the failover utilisation on the replicas left."""
    (s,) = p.slices
    cap = {c.id: p.capacity_rps[0][j] for j, c in enumerate(p.candidates)}
    u_f = p.n_plus_one[s.model]
    for cid, layout in sol.dedicated.items():
        load = s.rate_rps * sol.routing[s.id].get(cid, 0.0) / cap[cid]
        for per, count in layout.items():
            if count and load > u_f * (sol.replicas[cid] - per) + 1e-9:
                return False
    return True


def test_n_plus_one_spreads_replicas_and_survives_losing_any_instance() -> None:
    """3 req/s at u = 0.8 needs 4 replicas of 1 req/s. With min_replicas 2 they may all share one 8-GPU
    instance ($8/h); N+1 puts them on instances of their own so that losing any one still leaves 3."""
    offs = (FleetOffering("eight", 8.0, 8), FleetOffering("one", 2.5, 1))
    floor = one_model(offs, cap=1.0, rate=3.0, target_utilisation=0.8, min_replicas={"m": 2})
    assert solve_fleet(floor).instances == {"eight": 1}  # a floor on replicas is not redundancy
    p = replace(floor, n_plus_one={"m": 1.0})
    sol = solve_fleet(p)
    assert sol.status == "optimal" and verify_solution(p, sol) == ()
    assert sum(n for layout in sol.dedicated.values() for n in layout.values()) >= 2
    assert _survives_any_instance_loss(p, sol)
    # the cheapest such plan: 2 x eight with 2 replicas each ($16) loses 2 of 4; 4 x one ($10) loses 1 of 4
    assert (sol.cost_usd_per_hour, sol.instances, sol.dedicated) == (10.0, {"one": 4}, {"one/tp1": {1: 4}})
    stricter = solve_fleet(replace(p, n_plus_one={"m": 0.8}))  # keep u = 0.8 during a failure too: 5 replicas
    assert stricter.instances == {"one": 5}


def test_n_plus_one_layout_on_big_instances() -> None:
    """Only 8-GPU instances: two of them, replicas split so that either one alone carries the load."""
    p = one_model((FleetOffering("eight", 8.0, 8),), cap=1.0, rate=5.0, n_plus_one={"m": 1.0})
    sol = solve_fleet(p)
    assert sol.instances == {"eight": 2} and verify_solution(p, sol) == ()
    assert sol.replicas["eight/tp1"] >= 10 and max(sol.dedicated["eight/tp1"]) >= 5
    assert _survives_any_instance_loss(p, sol)


def test_n_plus_one_that_cannot_be_met_is_diagnosed() -> None:
    p = one_model((FleetOffering("eight", 8.0, 8, available=1),), cap=1.0, rate=2.0, n_plus_one={"m": 1.0})
    sol = solve_fleet(p)
    assert sol.status == "infeasible"
    assert "N+1 redundancy binds" in sol.message or "availability caps bind" in sol.message, sol.message


def test_n_plus_one_rows_are_named() -> None:
    p = one_model((FleetOffering("two", 2.0, 2),), cap=1.0, rate=1.0, n_plus_one={"m": 1.0})
    names = build_milp(p).row_names()
    assert names[names.index("dedicated_0") :] == [
        "dedicated_0",
        "in_use_0",
        "failover_0",
        "failover_link_0",
        "spread_0",
    ]
    lp = fleet_lp(p)
    assert "dedicated_0: - 2 dedicated_0 + replicas_0 = 0" in lp  # each dedicated instance holds 2 replicas
    assert "failover_0: 2 in_use_0 - replicas_0 + route_0_0 <= 0" in lp  # load <= u_m (replicas - 2 lost)
    assert "packing_0: dedicated_0 - instances_0 <= 0" in lp


def test_n_plus_one_groups_keep_their_traffic_while_an_instance_is_down() -> None:
    """Two groups of one model: a fast one on 2-replica instances, a slow one on 1-replica instances. Each
    keeps its own routed traffic within the failover utilisation when its fullest instance is lost."""
    offs = (FleetOffering("two", 3.0, 2), FleetOffering("one", 1.0, 1))
    cands = (FleetCandidate("two/tp1", "two", "m", 1), FleetCandidate("one/tp1", "one", "m", 1))
    p = FleetProblem(offs, cands, (FleetSlice("s", "m", 5.0),), ((1.0, 0.4),), n_plus_one={"m": 1.0})
    sol = solve_fleet(p)
    assert sol.status == "optimal" and verify_solution(p, sol) == ()
    assert _survives_any_instance_loss(p, sol)
    cheaper = solve_fleet(replace(p, n_plus_one={}))
    assert cheaper.cost_usd_per_hour < sol.cost_usd_per_hour
