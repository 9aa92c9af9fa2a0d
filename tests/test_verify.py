"""planner.verify: accepts valid plans and names every kind of violation."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import planner.verify as verify
import planner.verify_packing as packing
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


def test_traffic_on_a_candidate_without_replicas_is_named() -> None:
    """0.01 req/s on a candidate that serves 11,332 req/s is 8.8e-7 of a replica, inside the capacity
    check's tolerance; with no replica behind it, it is still a violation."""
    tiny = FleetProblem(
        (FleetOffering("o", 1.0, 1),),
        (FleetCandidate("c", "o", "m", 1),),
        (FleetSlice("s", "m", 0.01),),
        ((11332.0,),),
    )
    sol = FleetSolution("optimal", 0.0, {}, {}, {"s": {"c": 1.0}}, "test", 0.0, 0.0, 3, 3)
    assert verify_solution(tiny, sol) == ("routing: 1 of slice s goes to c, which has no replica",)

    # Any share above 1e-9, whatever the tolerance: here of slice a0 on sp-a, which has no replica.
    def spot_share(share: float) -> FleetSolution:
        routing = {"a0": {"od-a": 1 - share, "sp-a": share}, "a1": {"od-a": 1.0}, "b0": {"od-b2": 1.0}}
        return plan(instances={"od": 2}, replicas={"od-a": 1, "od-b2": 1}, routing=routing, cost_usd_per_hour=4.0)

    expected = ("routing: 1e-08 of slice a0 goes to sp-a, which has no replica",)
    assert verify_solution(PROBLEM, spot_share(1e-8), tol=1e-3) == expected
    assert verify_solution(PROBLEM, spot_share(1e-10)) == ()


def _one_offering(gpus: int, tps: tuple[int, ...]) -> FleetProblem:
    return FleetProblem(
        (FleetOffering("o", 1.0, gpus),),
        tuple(FleetCandidate(f"tp{t}", "o", "m", t) for t in tps),
        (FleetSlice("s", "m", 1.0),),
        ((1.0,) * len(tps),),
    )


def test_packing_of_a_large_fleet_is_checked_by_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """500,000 replicas: the old first-fit placed them one by one over every instance (quadratic; 1e6 req/s
    never finished). Power-of-two shapes are decided from the counts alone: no placement is attempted."""
    for name in ("_first_fit_decreasing", "_fill_in_bulk", "_fits_exactly"):
        monkeypatch.setattr(packing, name, lambda *a: pytest.fail("power-of-two shapes need no placement"))
    p = _one_offering(8, (1, 2, 4, 8))
    reps = {"tp1": 100_000, "tp2": 100_000, "tp4": 100_000, "tp8": 200_000}  # 2.3M GPUs
    routing = {"s": {"tp8": 1.0}}
    ok = plan(instances={"o": 287_500}, replicas=reps, routing=routing, cost_usd_per_hour=287_500.0)
    assert verify_solution(p, ok) == ()
    over = replace(ok, replicas={**reps, "tp1": 100_001})
    assert any(x.startswith("packing: 500001 replica(s) using 2300001 GPUs") for x in verify_solution(p, over))


@pytest.mark.parametrize(
    ("gpus", "replicas", "instances", "fits"),
    [
        (10, {"tp4": 2, "tp2": 1}, 1, True),  # 4 + 4 + 2
        (10, {"tp8": 1, "tp4": 1}, 1, False),  # 12 > 10
        (10, {"tp8": 1, "tp2": 1}, 1, True),
        (10, {"tp8": 2, "tp4": 1}, 2, False),  # 20 GPUs, but an 8 leaves 2 that no 4 can use
        (6, {"tp4": 3}, 2, False),  # one 4-GPU replica per 6-GPU instance
        (6, {"tp4": 2, "tp2": 2}, 2, True),
        (8, {"tp3": 2, "tp5": 2}, 2, True),  # odd shapes: 3 + 5 twice
        (8, {"tp3": 4, "tp5": 1}, 2, False),  # 17 > 16
        (9, {"tp3": 1, "tp4": 1, "tp2": 1}, 1, True),
        (9, {"tp4": 2, "tp3": 1, "tp2": 1}, 2, True),  # 4 + 3 + 2 and 4
        (7, {"tp3": 3, "tp5": 1}, 2, False),  # 14 GPUs on 14, but 5 leaves 2: 5 and 3 + 3, one 3 left
    ],
)
def test_packing_shapes(gpus: int, replicas: dict[str, int], instances: int, fits: bool) -> None:
    p = _one_offering(gpus, (1, 2, 3, 4, 5, 8))
    routing = {"s": {next(iter(replicas)): 1.0}}
    sol = plan(instances={"o": instances}, replicas=replicas, routing=routing, cost_usd_per_hour=float(instances))
    assert (verify_solution(p, sol) == ()) is fits, verify_solution(p, sol)


def _brute_fits(sizes: list[int], bins: int, bin_size: int) -> bool:
    """Every placement, replica by replica (instances with equal free GPUs tried once)."""
    free = [bin_size] * bins
    order = sorted(sizes, reverse=True)

    def place(i: int) -> bool:
        if i == len(order):
            return True
        tried = set()
        for b, room in enumerate(free):
            if room >= order[i] and room not in tried:
                tried.add(room)
                free[b] -= order[i]
                if place(i + 1):
                    return True
                free[b] += order[i]
        return False

    return place(0)


def _naive_ffd(sizes: list[int], bins: int, bin_size: int) -> bool:
    free = [bin_size] * bins
    for size in sorted(sizes, reverse=True):
        b = next((b for b, room in enumerate(free) if room >= size), None)
        if b is None:
            return False
        free[b] -= size
    return True


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 10),
    st.integers(0, 4),
    st.dictionaries(st.integers(1, 11), st.integers(0, 4), min_size=1, max_size=3),
)
def test_packing_matches_every_placement(bin_size: int, bins: int, counts: dict[int, int]) -> None:
    """The count-based check is exact: it agrees with trying every placement of the replicas."""
    sizes = [size for size, k in counts.items() for _ in range(k)]
    truth = _brute_fits(sizes, bins, bin_size)
    assert packing.fits(counts, bins, bin_size) is truth
    need = {size: k for size, k in counts.items() if k}
    if need and max(need) <= bin_size:
        assert packing._fits_exactly(need, bins, bin_size) is truth
        assert packing._first_fit_decreasing(need, bins, bin_size) is _naive_ffd(sizes, bins, bin_size)
        assert truth or not packing._fill_in_bulk(need, bins, bin_size)


def test_whole_slice_pieces_must_be_whole() -> None:
    whole = replace(PROBLEM, mode="whole-slice", slice_factor=2)
    assert verify_solution(whole, plan()) == ()  # halves are whole pieces when slice_factor is 2
    third = plan(routing={"a0": {"od-a": 1 / 3, "sp-a": 2 / 3}, "a1": {"od-a": 1.0}, "b0": {"od-b2": 1.0}})
    assert any(x.startswith("routing: whole-slice mode sends") for x in verify_solution(whole, third))


def test_checks_are_listed() -> None:
    assert VERIFY_CHECKS[0] == "ids" and "packing" in VERIFY_CHECKS and len(set(VERIFY_CHECKS)) == len(VERIFY_CHECKS)


# ------------------------------------------------------------------------------------ N+1 redundancy
N1 = FleetProblem(
    (FleetOffering("one", 2.0, 1), FleetOffering("two", 3.0, 2)),
    (FleetCandidate("one-a", "one", "a", 1), FleetCandidate("two-a", "two", "a", 1)),
    (FleetSlice("s", "a", 2.0),),
    ((1.0, 1.0),),
    n_plus_one={"a": 1.0},
)


def n1_plan(**changes: object) -> FleetSolution:
    """3 x one (1 replica each); losing one leaves 2 replicas for 2 req/s at utilisation 1."""
    base = plan(
        cost_usd_per_hour=6.0,
        instances={"one": 3},
        replicas={"one-a": 3},
        routing={"s": {"one-a": 1.0}},
        dedicated={"one-a": {1: 3}},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_valid_n_plus_one_plan_passes_and_the_solvers_too() -> None:
    assert verify_solution(N1, n1_plan()) == ()
    sol = solve_fleet(N1)
    assert sol.status == "optimal" and verify_solution(N1, sol) == ()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"dedicated": {}}, "redundancy: one-a has 3 replica(s) but its dedicated instances hold 0"),
        ({"dedicated": {"one-a": {1: 2}}}, "redundancy: one-a has 3 replica(s) but its dedicated instances hold 2"),
        ({"dedicated": {"one-a": {3: 1}}}, "redundancy: 3 replica(s) of one-a (1 GPUs each) do not fit one one"),
        (
            {
                "instances": {"one": 2},
                "replicas": {"one-a": 2},
                "dedicated": {"one-a": {1: 2}},
                "cost_usd_per_hour": 4.0,
            },
            "redundancy: one-a carries 2 replicas' worth of load on the 1 replica(s) left while an instance of 1 "
            "is down, over the failover utilisation 1",
        ),
        (
            {
                "instances": {"two": 1},
                "replicas": {"two-a": 2},
                "dedicated": {"two-a": {2: 1}},
                "routing": {"s": {"two-a": 1.0}},
                "cost_usd_per_hour": 3.0,
            },
            "redundancy: N+1 model a runs on 1 instance(s); it needs 2 or more",
        ),
        (
            {
                "replicas": {"one-a": 2, "two-a": 2},
                "dedicated": {"one-a": {1: 2}, "two-a": {2: 1}},
                "instances": {"one": 2, "two": 1},
                "routing": {"s": {"one-a": 0.5, "two-a": 0.5}},
                "cost_usd_per_hour": 7.0,
            },
            "redundancy: two-a carries traffic but keeps no replica while an instance of 2 is down",
        ),
        ({"dedicated": {"one-a": {1: 3}, "ghost": {1: 1}}}, "ids: dedicated instances for 'ghost'"),
        ({"instances": {"one": 2}, "cost_usd_per_hour": 4.0}, "packing: N+1 layouts take 3 x one but 2 are rented"),
    ],
)
def test_each_redundancy_violation_is_named(changes: dict[str, object], expected: str) -> None:
    problems = verify_solution(N1, n1_plan(**changes))
    assert any(p.startswith(expected) for p in problems), problems


def test_shared_instances_exclude_the_dedicated_ones() -> None:
    """A replica of a model without N+1 cannot sit on an instance an N+1 layout takes."""
    p = replace(
        N1,
        candidates=(*N1.candidates, FleetCandidate("one-b", "one", "b", 1)),
        slices=(*N1.slices, FleetSlice("t", "b", 0.5)),
        capacity_rps=((1.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
    )
    shared = n1_plan(replicas={"one-a": 3, "one-b": 1}, routing={"s": {"one-a": 1.0}, "t": {"one-b": 1.0}})
    assert any(
        x.startswith("packing: 1 replica(s) using 1 GPUs do not fit on 0 x one") for x in verify_solution(p, shared)
    )
    assert verify_solution(p, replace(shared, instances={"one": 4}, cost_usd_per_hour=8.0)) == ()


# ------------------------------------------------------------------------------------ publication
def test_rounded_shares_sum_to_one_in_their_decimals() -> None:
    thirds = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    assert verify.rounded_shares(thirds, 6) == {"a": 0.333334, "b": 0.333333, "c": 0.333333}
    assert verify.rounded_shares({"a": 1 - 4e-7, "b": 4e-7}, 6) == {"a": 1.0}  # a sliver rounds away
    assert sum(verify.rounded_shares({"x": 0.1234567891, "y": 0.8765432109}, 9).values()) == pytest.approx(1.0)


def test_published_shares_are_rounded_so_the_plan_still_verifies() -> None:
    """A sliver of a huge slice fills three cheap replicas exactly (13 big ones cannot carry 10,400.3 req/s
    at u = 0.8 alone): rounded to 6 decimals it puts 0.8% more load on them than they hold; publication
    keeps the decimals the plan needs (9 here)."""
    offs = (FleetOffering("cheap", 0.1, 1, available=3), FleetOffering("big", 5.0, 1))
    cands = (FleetCandidate("cheap/1", "cheap", "m", 1), FleetCandidate("big/1", "big", "m", 1))
    p = FleetProblem(offs, cands, (FleetSlice("s", "m", 10_400.3),), ((0.1591, 1000.0),), target_utilisation=0.8)
    sol = solve_fleet(p)
    assert sol.instances == {"big": 13, "cheap": 3} and verify_solution(p, sol) == ()
    fill = 3 * 0.8 * 0.1591 / 10_400.3  # the cheap replicas exactly full (equal-cost routings may fill less)
    sol = replace(sol, routing={"s": {"cheap/1": fill, "big/1": 1.0 - fill}})
    assert verify_solution(p, sol) == ()
    six = replace(sol, routing={"s": verify.rounded_shares(sol.routing["s"], 6)})
    assert verify_solution(p, six) == (
        "capacity: cheap/1 carries 2.41867 replicas' worth of load on 3 replica(s) at target utilisation 0.8",
    )
    published = verify.publishable(p, sol)
    assert verify_solution(p, published) == ()
    assert published.routing == {"s": {"big/1": 0.999963286, "cheap/1": 0.000036714}}
    easy = verify.publishable(PROBLEM, solve_fleet(PROBLEM))  # most plans: 6 decimals are enough
    assert all(round(v, 6) == v for shares in easy.routing.values() for v in shares.values())
