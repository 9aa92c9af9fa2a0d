"""Solving the fleet problem: the MILP, what to do when it stops early, and the single-offering baselines.

Outcomes: optimal -> that solution; stopped at the time limit with a solution -> that one (status "gap",
with its gap), or the cheapest single-offering solution when that is cheaper; infeasible, unbounded or
no solution within the time limit -> no solution, and a one-line reason that says which.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from common import limits
from planner.errors import ArgumentError, InputError, SolverError
from planner.result import SolverStats
from planner.spec import Spec
from planner.verify import verify_solution
from solvers.errors import SolverArgumentError, SolverFailure
from solvers.fleet import best_single_offering, solve_fleet
from solvers.types import FleetProblem, FleetSolution

if TYPE_CHECKING:  # the multi-period solver is loaded by `schedule` only, not on every plan
    from solvers.periods import PeriodsSolution

SOLVERS = ("highs", "cbc")
BASELINES_KEPT = 5
"""Single-offering baselines reported (the cheapest, solved exactly; dearer ones are pruned by a bound)."""
SPEC_ONLY_ARGUMENTS = {"mip_gap": "solver.mip_gap"}
"""Solver arguments only the spec sets, by YAML path; the others (solver, time_limit_s) the command line may
override, so their errors name the argument and the command layer spells the flag (planner/commands/flags.py)."""


@contextmanager
def solver_errors() -> Iterator[None]:
    """The solvers' own errors as the application's: an argument names the field or option that sets it."""
    try:
        yield
    except SolverArgumentError as err:
        if err.argument in SPEC_ONLY_ARGUMENTS:
            raise InputError(err.message, where=SPEC_ONLY_ARGUMENTS[err.argument]) from None
        raise ArgumentError(err.argument, err.message) from None
    except SolverFailure as err:
        raise SolverError(str(err)) from None


@dataclass(frozen=True)
class SolveSettings:
    solver: str
    time_limit_s: float
    mip_gap: float


def solve_settings(spec: Spec, solver: str | None, time_limit_s: float | None) -> SolveSettings:
    """The spec's solver settings with the command line's overrides, checked."""
    name = solver or spec.solver.name
    limit = time_limit_s if time_limit_s is not None else spec.solver.time_limit_s
    if name not in SOLVERS:
        raise ArgumentError("solver", f"unknown solver {name!r}; valid: {', '.join(SOLVERS)}")
    if not (math.isfinite(limit) and limit > 0):
        raise ArgumentError("time_limit_s", f"must be a positive number of seconds, e.g. 60 (got {limit:g})")
    limits.arm(limit)  # one deadline for the whole run: every solve, baseline and diagnosis shares it
    return SolveSettings(name, limit, spec.solver.mip_gap)


def not_run(settings: SolveSettings) -> SolverStats:
    """Solver statistics of a plan that never reached the solver."""
    return SolverStats(name=settings.solver, status="not_run", seconds=0.0, gap=None, variables=0, constraints=0)


def solver_stats(solution: FleetSolution | PeriodsSolution) -> SolverStats:
    """The published solver statistics of a fleet or multi-period solution."""
    return SolverStats(
        name=solution.solver,
        status=solution.status,
        seconds=round(solution.seconds, 4),
        gap=solution.gap,
        variables=solution.variables,
        constraints=solution.constraints,
    )


@dataclass(frozen=True)
class Solved:
    """What solving gave: a solution (or why none), its statistics, the baselines and notes for the reader."""

    solution: FleetSolution
    stats: SolverStats
    singles: tuple[tuple[str, FleetSolution], ...]  # the cheapest single-offering solutions, cheapest first
    note: str  # a back-end fallback or an early stop ("" when there is nothing to say)
    reason: str | None  # why there is no plan; None when `solution` is one

    @property
    def has_plan(self) -> bool:
        return self.reason is None


def solve(problem: FleetProblem, settings: SolveSettings, baselines_kept: int = BASELINES_KEPT) -> Solved:
    """Solve `problem`; after an early stop, a single-offering solution may replace the incumbent. Only the
    `baselines_kept` cheapest single-offering plans are solved for (the first is the same for any count)."""
    name, limit = settings.solver, settings.time_limit_s
    with solver_errors():
        solution = solve_fleet(problem, solver=name, time_limit_s=limit, mip_gap=settings.mip_gap)
    notes = [_solver_note(solution, name)]
    singles: list[tuple[str, FleetSolution]] | None = None
    if solution.status in ("gap", "not_solved"):
        # Stopped by the time limit: a single-offering plan is a valid plan of the whole problem too.
        with solver_errors():
            singles = best_single_offering(problem, solver=name, time_limit_s=limit, limit=baselines_kept)
        solution, note = _better_of(problem, solution, singles)
        notes.append(note)
    stats = solver_stats(solution)
    note_text = "; ".join(n for n in notes if n)
    if solution.status not in ("optimal", "gap"):
        return Solved(solution, stats, (), note_text, _status_reason(solution, limit))
    if singles is None:
        with solver_errors():
            singles = best_single_offering(problem, solver=name, time_limit_s=limit, limit=baselines_kept)
    return Solved(solution, stats, tuple(singles), note_text, None)


def _solver_note(solution: FleetSolution, requested: str) -> str:
    """What a reader must know about how the solve went: a back-end fallback or an early stop."""
    if solution.solver != requested or "fallback" in solution.message:
        return solution.message or f"solved with {solution.solver} instead of {requested}"
    if solution.status == "gap":
        return "stopped at the time limit: the best plan found, not proven optimal"
    return ""


def _status_reason(solution: FleetSolution, limit: float) -> str:
    """The one-line reason for a solve that produced no plan."""
    detail = solution.message
    if solution.status == "infeasible":
        return detail or "the solver proved the fleet problem infeasible"
    if solution.status == "unbounded":
        return (
            f"the {solution.solver} solver reported the fleet model unbounded, which non-negative prices rule "
            f"out: a bug, please report it{f' ({detail})' if detail else ''}"
        )
    return (
        f"not solved: {solution.solver} found no plan within the time limit of {limit:g} s, nor a "
        "single-offering plan; raise --time-limit (or solver.time_limit_s)" + (f" ({detail})" if detail else "")
    )


def _better_of(
    problem: FleetProblem, solution: FleetSolution, singles: Sequence[tuple[str, FleetSolution]]
) -> tuple[FleetSolution, str]:
    """After an early stop: the cheapest single-offering plan when it beats (or replaces) the incumbent.

    Its gap is measured against the solver's lower bound (incumbent x (1 - gap)) when one is known.
    """
    if not singles:
        return solution, ""
    oid, best = singles[0]
    found = solution.status == "gap"
    if found and best.cost_usd_per_hour >= solution.cost_usd_per_hour - 1e-9:
        return solution, ""
    if verify_solution(problem, replace(best, status="gap")):
        return solution, ""
    gap: float | None = None
    if found and solution.gap is not None and best.cost_usd_per_hour > 0:
        bound = solution.cost_usd_per_hour * (1.0 - solution.gap)
        gap = max(0.0, (best.cost_usd_per_hour - bound) / best.cost_usd_per_hour)
    chosen = replace(
        best,
        status="gap",
        gap=gap,
        seconds=solution.seconds,
        variables=solution.variables,
        constraints=solution.constraints,
        solver=solution.solver,
    )
    what = (
        f"the optimiser's best plan (${solution.cost_usd_per_hour:.4g}/h) cost more than"
        if found
        else "the optimiser found no plan; used"
    )
    return chosen, f"time limit: {what} the best single-offering plan ({oid}), which is the plan given"
