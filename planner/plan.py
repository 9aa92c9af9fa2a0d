"""The planner: spec + catalog -> a verified Plan, as a pipeline of pure stages.

    inputs (planner.inputs)      read the spec's files, check its ids           -> ModelInputs per model
    capacity (planner.capacity)  candidates and req/s per replica per slice     -> ModelCapacity per model
    problem (planner.problem)    the fleet MILP's arrays                        -> FleetProblem
    solve (planner.solve)        the MILP, early stops, baselines               -> Solved
    assemble (planner.assemble)  the answer in the spec's terms (shares rounded so it still verifies) -> Plan
    compare (planner.compare)    each model alone, aggregated only vs disaggregated only -> ShapeComparison
    verify (planner.verify)      an independent re-check of the plan as published -> violations

Only `load_inputs` and `load_model` read files. An unplannable spec (a slice nothing serves, a proven
infeasible problem, no solution within the time limit) is a Plan with reasons, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Literal

from common import limits
from planner.assemble import Solution, assemble, infeasible_plan, with_comparisons
from planner.capacity import ModelCapacity, memoised_capacity, model_capacity
from planner.capacity.merge import scaled
from planner.compare import compare_shapes
from planner.inputs import PlanInputs, check_profiles, load_inputs, load_model, offerings_for, without_dominated
from planner.problem import build_problem, check_fleet_size
from planner.result import Plan, Verification
from planner.solve import BASELINES_KEPT, not_run, solve, solve_settings
from planner.verify import VERIFY_CHECKS, publishable, verify_published
from solvers.fleet import only_candidates

Shapes = Literal["any", "aggregated", "disaggregated"]


def make_plan(
    inputs: PlanInputs,
    *,
    solver: str | None = None,
    time_limit_s: float | None = None,
    capacity_scale: Mapping[str, float] | None = None,
    compare: bool = True,
    baselines_kept: int = BASELINES_KEPT,
    shapes: Shapes = "any",
) -> Plan:
    """Plan the cheapest fleet for the spec; infeasibility is a Plan with reasons, not an exception.

    `capacity_scale` (candidate id -> factor on its capacities) is how planner.simulate.slo_check tightens
    candidates whose requests missed a percentile target in a simulation of the fleet. `compare` False
    leaves out the comparison of serving shapes (each model alone, aggregated vs disaggregated: more
    solves), which a sweep's headline figures do not use. `baselines_kept`: how many single-offering baselines
    the plan lists (the cheapest, exactly; a sweep's point reports only the first). `shapes`: "aggregated"
    or "disaggregated" plans with those replicas only (pairs whatever the spec's search.disaggregated says):
    the two sides of the comparison, which planner.simulate.slo_check checks against percentile targets.
    """
    with limits.run_scope():  # a library call is a run of its own; under the CLI, the command's run
        return _make_plan(
            inputs,
            solver=solver,
            time_limit_s=time_limit_s,
            capacity_scale=capacity_scale,
            compare=compare,
            baselines_kept=baselines_kept,
            shapes=shapes,
        )


def _make_plan(
    inputs: PlanInputs,
    *,
    solver: str | None,
    time_limit_s: float | None,
    capacity_scale: Mapping[str, float] | None = None,
    compare: bool = True,
    baselines_kept: int = BASELINES_KEPT,
    shapes: Shapes = "any",
) -> Plan:
    spec = inputs.spec
    settings = solve_settings(spec, solver, time_limit_s)
    check_profiles(spec, inputs.catalog)
    offerings = offerings_for(inputs)
    capacities: list[ModelCapacity] = []
    try:  # the run's time limit covers reading and estimating too; running out is "not solved"
        models = without_dominated(spec, [load_model(inputs, i, offerings) for i in range(len(spec.models))])
        for i, m in enumerate(models):
            limits.check(f"estimating capacities (model {i + 1} of {len(models)})")
            memo = inputs.capacity_memo  # a sweep's capacities at other rates (planner.sweep)
            capacities.append(model_capacity(m) if memo is None else memoised_capacity(m, memo))
    except limits.TimeLimitError as out_of_time:
        stats = not_run(settings).model_copy(update={"status": "not_solved"})
        return infeasible_plan(inputs, capacities, (f"not solved: {out_of_time.message}",), stats)
    if capacity_scale:
        capacities = [replace(c, rows=scaled(c.rows, capacity_scale)) for c in capacities]
    reasons = tuple(r for m in capacities for r in m.reasons)
    if reasons:
        return infeasible_plan(inputs, capacities, reasons, not_run(settings))
    if shapes == "any":
        problem, by_id = build_problem(spec, capacities)
    else:
        whole, by_id = build_problem(spec, capacities, disaggregated=shapes == "disaggregated")
        keep = {c.id for c in whole.candidates if (c.role == "aggregated") == (shapes == "aggregated")}
        problem = only_candidates(whole, keep)
    check_fleet_size(problem, capacities)
    solved = solve(problem, settings, baselines_kept)
    if solved.reason is not None:
        return infeasible_plan(inputs, capacities, (solved.reason,), solved.stats, solved.note)
    solved = replace(solved, solution=publishable(problem, solved.solution))
    plan = assemble(inputs, capacities, Solution(problem, by_id, solved))
    optimal = (problem, solved.solution) if solved.solution.status == "optimal" else None
    if compare:
        plan = with_comparisons(plan, compare_shapes(spec, capacities, settings, optimal))
    # The verdict is about the plan as published: its rounded shares and counts, read back from the Plan.
    violations = verify_published(problem, plan)
    verdict = Verification(passed=not violations, checks=VERIFY_CHECKS, violations=violations)
    return plan.model_copy(update={"verification": verdict})


def plan_spec_file(
    spec_path: Path, overlays: tuple[Path, ...] = (), *, solver: str | None = None, time_limit_s: float | None = None
) -> Plan:
    """Convenience for library users: load a spec file and plan it."""
    return make_plan(load_inputs(spec_path, overlays), solver=solver, time_limit_s=time_limit_s)
