"""Robustness failures in files owned by other engineers (solvers/fleet.py, planner/verify.py), kept apart
so the lead can forward them. (Those in planner/melange.py, catalog/ and `gpuplan place` are fixed; their
tests are in tests/test_robust_fixed.py.)

Each test states the command, what happens today and what is expected. They fail until the owners fix
them; the rest of the robustness suite (tests/test_robust_*.py) does not depend on them.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


# ------------------------------------------------------------------- solvers/fleet.py, planner/verify.py
def _tiny_load_problem() -> Any:
    from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice

    return FleetProblem(
        offerings=(FleetOffering("o", 1.0, 1),),
        candidates=(FleetCandidate("c", "o", "m", 1),),
        slices=(FleetSlice("s", "m", 0.01),),
        capacity_rps=((11332.0,),),  # 0.01 / 11332 = 8.8e-7 of a replica: below HiGHS's tolerance
        target_utilisation=1.0,
        min_replicas={},
    )


def test_solver_never_routes_to_a_candidate_without_replicas() -> None:
    """solve_fleet on a slice whose load is 8.8e-7 of a replica: today status "optimal", cost 0, no replica
    and, since ad462de drops sub-tolerance shares, routing {} (the slice is not served at all; the verifier
    flags the demand). Before that commit the whole slice was routed to 'c' with no replica and passed
    verification. Expected: one instance and one replica (e.g. a linking row x_sc <= r_c, or trimming with
    ceil(load) >= 1 whenever load > 0). planner.plan caps capacities (MIN_LOAD_FRACTION) so `gpuplan plan`
    is safe; the library call is not."""
    from solvers.fleet import solve_fleet

    sol = solve_fleet(_tiny_load_problem())
    assert sol.routing and sol.replicas.get("c", 0) >= 1 and sol.instances.get("o", 0) >= 1, sol


def test_verifier_rejects_traffic_on_a_candidate_without_replicas() -> None:
    """verify_solution of that plan: today no violation (the capacity check's tolerance, 1e-6 relative to
    max(1, ...), swallows a load of 8.8e-7). Expected: a violation naming the slice and the candidate."""
    from planner.verify import verify_solution
    from solvers.types import FleetSolution

    sol = FleetSolution("optimal", 0.0, {}, {}, {"s": {"c": 1.0}}, "highs", 0.0, 0.0, 3, 3)
    assert verify_solution(_tiny_load_problem(), sol), "a plan serving traffic with no GPU passed verification"


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    """A hang guard, not a benchmark: the expected run time is well under a second."""

    def on_alarm(signum: int, frame: object) -> None:
        raise TimeoutError(f"did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_verifier_packing_check_scales_to_large_fleets() -> None:
    """planner.verify._fits is first-fit over every replica and instance (quadratic): `gpuplan plan` with
    rate_rps 1e5 (57k GPUs) spends 4 s in it, 2e5 (114k GPUs) 13 s, 1e6 (~530k GPUs) does not finish in
    2 minutes. Expected: packing checked per replica size (counts), so 500k replicas take well under a second."""
    from planner.verify import verify_solution
    from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice, FleetSolution

    n = 500_000
    problem = FleetProblem(
        offerings=(FleetOffering("o", 8.0, 8),),
        candidates=(FleetCandidate("c", "o", "m", 1),),
        slices=(FleetSlice("s", "m", n * 1.0),),
        capacity_rps=((1.0,),),
        target_utilisation=1.0,
        min_replicas={},
    )
    sol = FleetSolution("optimal", n / 8 * 8.0, {"o": n // 8}, {"c": n}, {"s": {"c": 1.0}}, "highs", 0.0, 0.0, 3, 3)
    with _alarm(10):
        assert verify_solution(problem, sol) == ()
