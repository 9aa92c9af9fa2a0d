"""`gpuplan plan SPEC`: plan the spec (planner.plan) and render the Plan."""

from __future__ import annotations

from pathlib import Path

from planner.inputs import load_inputs, spec_errors
from planner.outcome import Outcome
from planner.report import render_plan_markdown, render_plan_table
from planner.result import Plan
from planner.simulate.slo_check import plan_checked

UNSOLVED = ("not_solved", "unbounded")


def execute(
    spec: Path, *, solver: str | None = None, time_limit_s: float | None = None, overlays: tuple[Path, ...] = ()
) -> Outcome:
    with spec_errors(spec):
        plan = plan_checked(load_inputs(spec, overlays), solver=solver, time_limit_s=time_limit_s)
    return outcome_of(plan)


def outcome_of(plan: Plan) -> Outcome:
    """A plan as the command's result: status, exit code and errors follow the plan's own status."""
    feasible = plan.status != "infeasible"
    errors = plan.infeasible_reasons if not feasible else plan.verification.violations
    unsolved = plan.solver.status in UNSOLVED  # no plan, but not proven infeasible either
    return Outcome(
        command="plan",
        status="ok"
        if feasible and plan.verification.passed
        else ("infeasible" if not (feasible or unsolved) else "error"),
        data=plan,
        renderers={"table": lambda: render_plan_table(plan), "md": lambda: render_plan_markdown(plan)},
        exit_code=0 if feasible and plan.verification.passed else 1,
        errors=tuple(errors),
    )
