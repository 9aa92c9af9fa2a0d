"""planner.verify: accepts valid plans and names every kind of violation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.verify import VERIFY_CHECKS, verify_solution
from solvers.fleet import solve_fleet
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice, FleetSolution

OFFS = (FleetOffering("od", 2.0, 2, available=2), FleetOffering("sp", 1.0, 1, spot=True))
CANDS = (
    FleetCandidate("od-a", "od", "a", 1),
    FleetCandidate("od-b2", "od", "b", 2),
    FleetCandidate("sp-a", "sp", "a", 1),
)
SLICES = (FleetSlice("a0", "a", 1.0), FleetSlice("a1", "a", 2.0), FleetSlice("b0", "b", 1.0))
CAPS = ((2.0, 0.0, 1.0), (4.0, 0.0, 0.0), (0.0, 2.0, 0.0))
PROBLEM = FleetProblem(OFFS, CANDS, SLICES, CAPS, min_replicas={"a": 1}, max_spot_share=0.5)


def plan(**changes: object) -> FleetSolution:
    base = FleetSolution(
        status="optimal",
        cost_usd_per_hour=5.0,
        instances={"od": 2, "sp": 1},
        replicas={"od-a": 1, "od-b2": 1, "sp-a": 1},
        routing={"a0": {"od-a": 0.5, "sp-a": 0.5}, "a1": {"od-a": 1.0}, "b0": {"od-b2": 1.0}},
        solver="test",
        seconds=0.0,
        gap=0.0,
        variables=0,
        constraints=0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_valid_hand_made_plan_passes() -> None:
    assert verify_solution(PROBLEM, plan()) == ()


def test_the_solvers_plan_passes() -> None:
    sol = solve_fleet(PROBLEM)
    assert sol.status == "optimal"
    assert verify_solution(PROBLEM, sol) == ()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"routing": {"a0": {"od-a": 0.5}, "a1": {"od-a": 1.0}, "b0": {"od-b2": 1.0}}},
            "demand: slice a0 is routed 0.5",
        ),
        ({"replicas": {"od-b2": 1, "sp-a": 1}}, "capacity: od-a carries 0.75 replicas' worth of load on 0"),
        (
            {"routing": {"a0": {"od-a": 0.5, "sp-a": 0.5}, "a1": {"sp-a": 1.0}, "b0": {"od-b2": 1.0}}},
            "routing: slice a1 is routed to sp-a, whose capacity for it is 0",
        ),
        (
            {"routing": {"a0": {"od-a": 0.5, "od-b2": 0.5}, "a1": {"od-a": 1.0}, "b0": {"od-b2": 1.0}}},
            "routing: slice a0 of model a is routed to od-b2, a b replica",
        ),
        ({"instances": {"od": 1, "sp": 1}, "cost_usd_per_hour": 3.0}, "packing: 2 replica(s) using 3 GPUs"),
        ({"instances": {"od": 3, "sp": 1}, "cost_usd_per_hour": 7.0}, "availability: 3 x od rented, 2 available"),
        ({"cost_usd_per_hour": 4.0}, "cost: reported $4/h, instances cost $5/h"),
        ({"instances": {"od": 2, "sp": 1, "ghost": 1}}, "ids: instances of unknown offering 'ghost'"),
        ({"replicas": {"od-a": 1.5, "od-b2": 1, "sp-a": 1}}, "integrality: od-a has 1.5 replicas"),
        ({"status": "infeasible"}, "a plan with status 'infeasible' must not allocate anything"),
    ],
)
def test_each_violation_is_named(changes: dict[str, object], expected: str) -> None:
    problems = verify_solution(PROBLEM, plan(**changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_min_replicas_spot_share_and_budget() -> None:
    strict = replace(PROBLEM, min_replicas={"a": 3}, max_spot_share=0.1, budget_usd_per_hour=4.0)
    problems = verify_solution(strict, plan())
    assert any(p.startswith("min_replicas: model a has 2 replica(s), needs 3") for p in problems)
    assert any(p.startswith("spot_share: 0.5 of 4 req/s served on spot") for p in problems)
    assert any(p.startswith("budget: $5/h over the budget of $4/h") for p in problems)


def test_packing_places_whole_replicas() -> None:
    offs = (FleetOffering("n", 4.0, 4),)
    cands = (FleetCandidate("tp4", "n", "m", 4), FleetCandidate("tp2", "n", "m", 2))
    p = FleetProblem(offs, cands, (FleetSlice("s", "m", 1.0),), ((1.0, 1.0),))
    ok = plan(instances={"n": 2}, replicas={"tp4": 1, "tp2": 2}, routing={"s": {"tp4": 1.0}}, cost_usd_per_hour=8.0)
    assert verify_solution(p, ok) == ()
    bad = replace(ok, replicas={"tp4": 2, "tp2": 1})
    assert any(x.startswith("packing: 3 replica(s) using 10 GPUs") for x in verify_solution(p, bad))
    # 3 x 4-GPU replicas need 12 GPUs and 2 x 6-GPU instances have 12, but only one fits per instance
    odd = FleetProblem((FleetOffering("six", 6.0, 6),), (FleetCandidate("tp4", "six", "m", 4),), p.slices, ((1.0,),))
    three = plan(instances={"six": 2}, replicas={"tp4": 3}, routing={"s": {"tp4": 1.0}}, cost_usd_per_hour=12.0)
    assert any(
        x.startswith("packing: 3 replica(s) using 12 GPUs do not fit on 2 x six") for x in verify_solution(odd, three)
    )


def test_whole_slice_pieces_must_be_whole() -> None:
    whole = replace(PROBLEM, mode="whole-slice", slice_factor=2)
    assert verify_solution(whole, plan()) == ()  # halves are whole pieces when slice_factor is 2
    third = plan(routing={"a0": {"od-a": 1 / 3, "sp-a": 2 / 3}, "a1": {"od-a": 1.0}, "b0": {"od-b2": 1.0}})
    assert any(x.startswith("routing: whole-slice mode sends") for x in verify_solution(whole, third))


def test_checks_are_listed() -> None:
    assert VERIFY_CHECKS[0] == "ids" and "packing" in VERIFY_CHECKS and len(set(VERIFY_CHECKS)) == len(VERIFY_CHECKS)
