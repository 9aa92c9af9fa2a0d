"""solvers.fleet: constraints, tie-breaks, infeasibility reasons, whole-slice mode, back-ends, LP names."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

import solvers.fleet as fleet
from planner.errors import InputError, SolverError
from planner.verify import verify_solution
from solvers.backend import Session, map_highs_status, open_session
from solvers.fleet import best_single_offering, fleet_lp, solve_fleet
from solvers.model import FleetModel, build_model, effective_tp
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice


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
    def broken(model: FleetModel, name: str) -> Session:
        if name == "highs":
            raise RuntimeError("simulated HiGHS crash")
        return open_session(model, name)

    monkeypatch.setattr(fleet, "open_session", broken)
    sol = solve_fleet(melange_head())
    assert sol.solver == "cbc"
    assert "fallback" in sol.message and "simulated HiGHS crash" in sol.message
    assert sol.cost_usd_per_hour == pytest.approx(4.68)


def test_missing_highspy_uses_cbc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet, "highs_available", lambda: False)
    sol = solve_fleet(melange_head())
    assert sol.solver == "cbc" and "highspy is not installed" in sol.message


def test_both_backends_failing_is_a_solver_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(model, name):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"{name} down")

    monkeypatch.setattr(fleet, "open_session", broken)
    with pytest.raises(SolverError, match="CBC fallback failed"):
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


def test_bad_solver_options_are_input_errors() -> None:
    with pytest.raises(InputError, match="unknown solver 'gurobi'"):
        solve_fleet(melange_head(), solver="gurobi")
    with pytest.raises(InputError, match="time limit"):
        solve_fleet(melange_head(), time_limit_s=0)
    with pytest.raises(InputError, match="MIP gap"):
        solve_fleet(melange_head(), mip_gap=2)


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
    assert effective_tp(8, 3) == 4.0 and effective_tp(4, 8) == float("inf") and effective_tp(8, 2) == 2
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
    assert "tie-breaks: fewest GPUs, then instances, then offering id" in sol.message
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
    model = build_model(p)
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
        build_model(replace(p, capacity_rps=p.capacity_rps[:2]))
    with pytest.raises(ValueError, match="unknown offering"):
        build_model(replace(p, candidates=(FleetCandidate("x", "nope", "m", 1), p.candidates[1])))
